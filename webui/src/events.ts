// One shared EventSource on /api/events (same origin, so the login cookie goes with it).
// Components subscribe with useSessionEvents(); the stream opens with the first subscriber
// and closes with the last one.
import { useEffect, useRef } from "react";
import type { IdleWarningEvent, StatusEvent } from "./types";

export type EventListener = (event: StatusEvent) => void;
export type IdleWarningListener = (event: IdleWarningEvent) => void;
/** Called when the stream (re)connects: anything that happened meanwhile was missed. */
export type ReadyListener = () => void;

const listeners = new Set<EventListener>();
const readyListeners = new Set<ReadyListener>();
const idleListeners = new Set<IdleWarningListener>();
let source: EventSource | null = null;
let retryTimer: number | undefined;
let lostListener: () => void = () => undefined;

/** Called when the stream cannot be reopened (for example the login expired). */
export function setStreamLostHandler(listener: () => void): void {
  lostListener = listener;
}

function open(): void {
  if (source || typeof EventSource === "undefined") return;
  const es = new EventSource("/api/events");
  source = es;
  es.addEventListener("ready", () => readyListeners.forEach((l) => l()));
  es.addEventListener("session.status", (msg) => {
    let data: StatusEvent;
    try {
      data = JSON.parse((msg as MessageEvent<string>).data) as StatusEvent;
    } catch {
      return;
    }
    listeners.forEach((l) => l(data));
  });
  es.addEventListener("session.idle-warning", (msg) => {
    let data: IdleWarningEvent;
    try {
      data = JSON.parse((msg as MessageEvent<string>).data) as IdleWarningEvent;
    } catch {
      return;
    }
    idleListeners.forEach((l) => l(data));
  });
  es.onerror = () => {
    // The browser retries by itself unless the answer was not an event stream (401 etc.).
    if (es.readyState !== EventSource.CLOSED) return;
    es.close();
    source = null;
    lostListener();
    window.clearTimeout(retryTimer);
    retryTimer = window.setTimeout(() => {
      if (subscribers() > 0) open();
    }, 3000);
  };
}

function subscribers(): number {
  return listeners.size + readyListeners.size + idleListeners.size;
}

function closeIfUnused(): void {
  if (subscribers() === 0 && source) {
    source.close();
    source = null;
    window.clearTimeout(retryTimer);
  }
}

/** Close the stream now (logout). */
export function closeStream(): void {
  source?.close();
  source = null;
  window.clearTimeout(retryTimer);
}

/** Subscribe to session status events (and stream reconnects) while mounted. */
export function useSessionEvents(onEvent: EventListener, onReady?: ReadyListener): void {
  const eventRef = useRef(onEvent);
  const readyRef = useRef(onReady);
  eventRef.current = onEvent;
  readyRef.current = onReady;
  useEffect(() => {
    const l: EventListener = (e) => eventRef.current(e);
    const r: ReadyListener = () => readyRef.current?.();
    listeners.add(l);
    readyListeners.add(r);
    open();
    return () => {
      listeners.delete(l);
      readyListeners.delete(r);
      closeIfUnused();
    };
  }, []);
}

/** Subscribe to idle warnings (an idle check will reclaim a session soon) while mounted. */
export function useIdleWarnings(onWarning: IdleWarningListener): void {
  const ref = useRef(onWarning);
  ref.current = onWarning;
  useEffect(() => {
    const l: IdleWarningListener = (e) => ref.current(e);
    idleListeners.add(l);
    open();
    return () => {
      idleListeners.delete(l);
      closeIfUnused();
    };
  }, []);
}
