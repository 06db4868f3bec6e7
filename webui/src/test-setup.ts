import { createRequire } from "node:module";

// jsdom lacks what Ant Design's responsive components look for.
if (!window.matchMedia) {
  // Answers width queries as a desktop browser as wide as jsdom's window (1024 px) would,
  // so that components laid out by breakpoint render their desktop form in tests.
  const widthMatches = (query: string): boolean => {
    const min = /min-width:\s*(\d+)px/.exec(query);
    const max = /max-width:\s*(\d+)px/.exec(query);
    if (!min && !max) return false;
    const width = window.innerWidth;
    return (!min || width >= Number(min[1])) && (!max || width <= Number(max[1]));
  };
  window.matchMedia = (query: string) =>
    ({
      matches: widthMatches(query),
      media: query,
      onchange: null,
      addListener: () => undefined,
      removeListener: () => undefined,
      addEventListener: () => undefined,
      removeEventListener: () => undefined,
      dispatchEvent: () => false,
    }) as MediaQueryList;
}

// jsdom does not implement pseudo-elements; Ant Design's scrollbar measurement asks for them.
const computedStyle = window.getComputedStyle.bind(window);
window.getComputedStyle = (elt: Element) => computedStyle(elt);

// ---- CSS selector matching: the cost of getComputedStyle in jsdom ---------------------------
// jsdom computes a style by matching every rule of every style sheet against the element (and,
// for inherited properties, its ancestors), through one nwsapi engine per document. nwsapi keeps
// its compiled selectors in an LRU cache of 1000 entries; Ant Design injects more distinct
// selectors than that (up to ~2400 in one test file), so each scan of the rules in order evicts
// what the next scan needs and every match recompiles its selector: most of the time of these
// tests went there (role queries and rc-table's scrollbar measurement call getComputedStyle).
// Below, jsdom's engine for style matching is replaced by the same nwsapi, set up as jsdom sets
// up its own (helpers/selectors.js), with the selectors spread over several engines that each
// hold fewer than 1000, so that compiled selectors stay cached. What matches does not change:
// checked by running the whole suite with both answering every match (~3 million, no difference).
// Should jsdom's insides move, the tests run as before, only slower.
interface Nwsapi {
  match(selector: string, element: Element): boolean;
  configure(options: Record<string, boolean>): unknown;
}
try {
  const require = createRequire(import.meta.url);
  const jsdomRequire = createRequire(require.resolve("jsdom"));
  const nwsapi = jsdomRequire("nwsapi") as (global: { document: Document; DOMException: unknown }) => Nwsapi;
  const utils = jsdomRequire("./jsdom/living/generated/utils.js") as { implForWrapper(wrapper: unknown): Record<string, unknown> | null };
  const docImpl = utils.implForWrapper(document);
  const PER_ENGINE = 800;
  const engines: Nwsapi[] = [];
  const engineOf = new Map<string, Nwsapi>();
  const engineFor = (selector: string): Nwsapi => {
    let engine = engineOf.get(selector);
    if (!engine) {
      if (engines.length === 0 || engineOf.size >= engines.length * PER_ENGINE) {
        const made = nwsapi({ document, DOMException: window.DOMException });
        made.configure({ LOGERRORS: false, VERBOSITY: false, IDS_DUPES: true, MIXEDCASE: true });
        engines.push(made);
      }
      engine = engines[engines.length - 1];
      engineOf.set(selector, engine);
    }
    return engine;
  };
  // jsdom makes its own on the first match; none has run yet
  if (docImpl && !docImpl._nwsapiDontThrow) {
    docImpl._nwsapiDontThrow = { match: (selector: string, element: Element) => engineFor(selector).match(selector, element) };
  }
} catch (error) {
  console.warn("test-setup: jsdom's selector engine left as it is (slower):", error);
}
