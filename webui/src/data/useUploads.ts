// The explorer's upload queue as React state.
import { useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";
import { aggregateProgress, tusStarter, UploadQueue, type Starter, type UploadItem } from "./upload";

export function useUploads(onUploaded: (item: UploadItem) => void, starter: Starter = tusStarter) {
  const callback = useRef(onUploaded);
  callback.current = onUploaded;
  const [queue] = useState(() => new UploadQueue(starter, undefined, (item) => callback.current(item)));
  const items = useSyncExternalStore(queue.subscribe, queue.getSnapshot);
  const progress = useMemo(() => aggregateProgress(items), [items]);

  // Leaving the page stops the uploads (they resume when the same files are picked again).
  useEffect(() => () => queue.cancelAll(), [queue]);
  useEffect(() => {
    if (progress.active === 0) return;
    const warn = (e: BeforeUnloadEvent) => {
      e.preventDefault();
      e.returnValue = "";
    };
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [progress.active]);

  return { queue, items, progress };
}
