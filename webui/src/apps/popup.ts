// New windows for apps. Browsers allow window.open() only during a click, but an app's URL
// arrives seconds later (Jupyter takes a while to start): open a blank window at the click and
// send it to the URL when the answer comes; if the browser blocked it, the dialog shows a link.

/** A blank window opened during the click, saying what it waits for; null when blocked. */
export function openPending(what: string): Window | null {
  const win = window.open("", "_blank");
  if (!win) return null;
  try {
    win.document.title = `Opening ${what}…`;
    const p = win.document.createElement("p");
    p.textContent = `Starting ${what}; this window opens it when it is ready…`;
    p.style.cssText = "font: 15px system-ui, sans-serif; color: #555; margin: 40px; text-align: center";
    win.document.body.appendChild(p);
  } catch {
    // Not our document (some browsers): the blank window is fine as it is.
  }
  return win;
}

/** Send the pending window to `url`; false when it is gone (blocked or closed by the user). */
export function navigatePending(win: Window | null, url: string): boolean {
  if (!win || win.closed) return false;
  try {
    win.opener = null; // the app must not script this page (reverse tabnabbing)
  } catch {
    // ignore: some browsers do not let the opener be reset
  }
  win.location.href = url;
  return true;
}

export function closePending(win: Window | null): void {
  if (win && !win.closed) win.close();
}

/** Open a same-origin page (the terminal) in a new window; false when blocked. */
export function openWindow(url: string): boolean {
  return window.open(url, "_blank") !== null;
}
