import { memo, useMemo } from "react";
import { splitMatches } from "./highlight";

interface Props {
  text: string;
  query: string;
  current: number;
}

/** The log text with every match marked; the current match has the class "current". */
function LogText({ text, query, current }: Props) {
  const parts = useMemo(() => splitMatches(text, query), [text, query]);
  let index = -1;
  return (
    <>
      {parts.map((p, i) => {
        if (!p.match) return <span key={i}>{p.text}</span>;
        index += 1;
        return (
          <mark key={i} data-match={index} className={index === current ? "current" : undefined}>
            {p.text}
          </mark>
        );
      })}
    </>
  );
}

export default memo(LogText);
