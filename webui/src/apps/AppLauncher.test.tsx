import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { App as AntApp } from "antd";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { SessionApp } from "../types";
import { buttons } from "../data/testing";
import AppLauncher from "./AppLauncher";

/** The one button showing `text` (as getByRole("button", { name }) would insist on, without
 * its walk of the whole antd tree, slow in jsdom). */
const onlyButton = (text: string): HTMLButtonElement => {
  const found = buttons(text);
  expect(found).toHaveLength(1);
  return found[0];
};

const APPS: SessionApp[] = [
  { name: "jupyter", title: "Jupyter", protocol: "http", container_port: 8888, route: null },
  { name: "terminal", title: "Terminal", protocol: "pty", container_port: null, route: null },
  { name: "tensorboard", title: "TensorBoard", protocol: "http", container_port: 6006, route: null },
  { name: "sshd", title: "SSH/SFTP", protocol: "tcp", container_port: 2200, route: null },
  { name: "port-8080", title: "Port 8080", protocol: "preopen", container_port: 8080, route: null },
];

interface Call {
  method: string;
  url: string;
  body: unknown;
}

let calls: Call[] = [];
let answers: Record<string, () => Response>;

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

beforeEach(() => {
  calls = [];
  answers = { "GET /api/sessions/s1/apps": () => json(APPS) };
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string, init?: RequestInit) => {
      const method = init?.method ?? "GET";
      calls.push({ method, url, body: init?.body ? JSON.parse(String(init.body)) : undefined });
      const answer = answers[`${method} ${url}`];
      return answer ? answer() : json({ detail: "not found" }, 404);
    }),
  );
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

function renderLauncher() {
  render(
    <AntApp>
      <AppLauncher target={{ id: "s1", name: "demo" }} onClose={() => undefined} />
    </AntApp>,
  );
}

/** A stand-in for the blank window opened at the click. */
function fakeWindow() {
  const win = {
    closed: false,
    opener: {},
    location: { href: "about:blank" },
    document: document.implementation.createHTMLDocument(""),
    close: vi.fn(() => {
      win.closed = true;
    }),
  };
  return win;
}

describe("AppLauncher", { timeout: 30_000 }, () => {
  it("shows a tile per app", async () => {
    renderLauncher();
    for (const title of ["Jupyter", "Terminal", "TensorBoard", "SSH/SFTP", "Port 8080"]) {
      expect(await screen.findByText(title)).toBeTruthy();
    }
    expect(screen.getByText("Apps of demo")).toBeTruthy();
  });

  it("opens a blank window at the click and sends it to the app's URL", async () => {
    const win = fakeWindow();
    const open = vi.spyOn(window, "open").mockReturnValue(win as unknown as Window);
    answers["POST /api/sessions/s1/apps/jupyter/open"] = () =>
      json({
        name: "jupyter",
        url: "http://127.0.0.1:10012/?token=t",
        port: 10012,
        preferred_port_used: false,
        message: "Preferred port 10005 was taken; the app is on port 10012.",
        ssh: null,
      });
    renderLauncher();
    fireEvent.click(await screen.findByLabelText(/Try preferred port/));
    fireEvent.change(screen.getByLabelText("Preferred port"), { target: { value: "10005" } });
    fireEvent.click(screen.getByText("Jupyter"));
    expect(open).toHaveBeenCalledWith("", "_blank");
    await waitFor(() => expect(win.location.href).toBe("http://127.0.0.1:10012/?token=t"));
    expect(win.opener).toBeNull();
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({
      public: false,
      allowed_ips: [],
      preferred_port: 10005,
      logdir: null,
    });
    expect(await screen.findByText("Preferred port 10005 was taken; the app is on port 10012.")).toBeTruthy();
  });

  it("asks TensorBoard's log directory first", async () => {
    const win = fakeWindow();
    vi.spyOn(window, "open").mockReturnValue(win as unknown as Window);
    answers["POST /api/sessions/s1/apps/tensorboard/open"] = () =>
      json({ name: "tensorboard", url: "http://h:10013/?token=u", port: 10013, preferred_port_used: null, message: "", ssh: null });
    renderLauncher();
    fireEvent.click(await screen.findByText("TensorBoard"));
    const field = screen.getByLabelText("TensorBoard log directory") as HTMLInputElement;
    expect(field.value).toBe("/home/work/logs");
    expect(calls.some((c) => c.method === "POST")).toBe(false);
    fireEvent.change(field, { target: { value: "/home/work/runs" } });
    fireEvent.click(onlyButton("Open TensorBoard"));
    await waitFor(() => expect(win.location.href).toBe("http://h:10013/?token=u"));
    expect(calls.find((c) => c.method === "POST")?.body).toMatchObject({ logdir: "/home/work/runs" });
    await waitFor(() => expect(screen.queryByLabelText("TensorBoard log directory")).toBeNull());
  });

  it("checks the allowed IPs at the field and opens nothing while one is wrong", async () => {
    const open = vi.spyOn(window, "open");
    renderLauncher();
    fireEvent.click(await screen.findByLabelText(/Open to public/));
    fireEvent.change(screen.getByLabelText("Allowed client IPs"), { target: { value: "10.0.0.1, 10.0.0.999" } });
    expect(await screen.findByText('"10.0.0.999" is not an IPv4/IPv6 address or network (CIDR)')).toBeTruthy();
    fireEvent.click(screen.getByText("Jupyter"));
    expect(open).not.toHaveBeenCalled();
    expect(calls.some((c) => c.method === "POST")).toBe(false);
  });

  it("shows the server's 422 at the field and closes the blank window", async () => {
    const win = fakeWindow();
    vi.spyOn(window, "open").mockReturnValue(win as unknown as Window);
    answers["POST /api/sessions/s1/apps/port-8080/open"] = () =>
      json({ detail: [{ loc: ["body", "allowed_ips", 0], msg: "not allowed here", type: "value_error" }] }, 422);
    renderLauncher();
    fireEvent.click(await screen.findByLabelText(/Open to public/));
    fireEvent.change(screen.getByLabelText("Allowed client IPs"), { target: { value: "10.0.0.0/8" } });
    fireEvent.click(screen.getByText("Port 8080"));
    expect(await screen.findByText("not allowed here")).toBeTruthy();
    expect(win.close).toHaveBeenCalled();
    expect(calls.find((c) => c.method === "POST")?.body).toMatchObject({ public: true, allowed_ips: ["10.0.0.0/8"] });
  });

  it("shows a plain refusal in an alert", async () => {
    vi.spyOn(window, "open").mockReturnValue(fakeWindow() as unknown as Window);
    answers["POST /api/sessions/s1/apps/jupyter/open"] = () => json({ detail: "the session is not RUNNING" }, 409);
    renderLauncher();
    fireEvent.click(await screen.findByText("Jupyter"));
    expect((await screen.findByTestId("app-error")).textContent).toContain(
      "Could not open Jupyter: the session is not RUNNING",
    );
  });

  it("offers a link when the browser blocks the window", async () => {
    vi.spyOn(window, "open").mockReturnValue(null);
    answers["POST /api/sessions/s1/apps/jupyter/open"] = () =>
      json({ name: "jupyter", url: "http://h:1/?token=v", port: 1, preferred_port_used: null, message: "", ssh: null });
    renderLauncher();
    fireEvent.click(await screen.findByText("Jupyter"));
    const link = (await screen.findByText("Open Jupyter")).closest("a");
    expect(link?.getAttribute("href")).toBe("http://h:1/?token=v");
  });

  it("opens the terminal page without asking the server", async () => {
    const open = vi.spyOn(window, "open").mockReturnValue(fakeWindow() as unknown as Window);
    renderLauncher();
    fireEvent.click(await screen.findByText("Terminal"));
    expect(open).toHaveBeenCalledWith("/terminal/s1", "_blank");
    expect(calls.some((c) => c.method === "POST")).toBe(false);
  });

  it("shows SSH/SFTP details and downloads the key", async () => {
    const open = vi.spyOn(window, "open");
    answers["POST /api/sessions/s1/apps/sshd/open"] = () =>
      json({
        name: "sshd",
        url: null,
        port: 10022,
        preferred_port_used: null,
        message: "",
        ssh: { host: "gpu1", port: 10022, user: "work" },
      });
    answers["GET /api/sessions/s1/ssh-key"] = () => new Response("-----BEGIN OPENSSH PRIVATE KEY-----\n", { status: 200 });
    const created = vi.fn(() => "blob:key");
    vi.stubGlobal("URL", Object.assign(URL, { createObjectURL: created, revokeObjectURL: vi.fn() }));
    const clicks: string[] = [];
    vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
      clicks.push(this.download);
    });
    renderLauncher();
    fireEvent.click(await screen.findByText("SSH/SFTP"));
    expect((await screen.findByTestId("ssh-command")).textContent).toBe("ssh -i id_container -p 10022 work@gpu1");
    expect(screen.getByTestId("sftp-command").textContent).toBe("sftp -i id_container -P 10022 work@gpu1");
    expect(open).not.toHaveBeenCalled();
    await act(async () => {
      fireEvent.click(onlyButton("Download key"));
    });
    await waitFor(() => expect(clicks).toEqual(["id_container"]));
    fireEvent.click(onlyButton("Back to apps"));
    expect(await screen.findByText("Jupyter")).toBeTruthy();
  });
});
