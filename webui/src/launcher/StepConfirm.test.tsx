import { cleanup, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import type { Folder } from "../data/types";
import { DEFAULT_FORM, validate, type LaunchForm } from "./form";
import StepConfirm from "./StepConfirm";

const folder = (name: string, patch: Partial<Folder> = {}): Folder =>
  ({
    id: `id-${name}`,
    name,
    status: "ready",
    owner_kind: "user",
    permission: "rw",
    my_permission: "rw",
    is_owner: true,
    shared_with_me: false,
    auto_mount: name.startsWith("."),
    ...patch,
  }) as Folder;

afterEach(cleanup);

function renderConfirm(form: LaunchForm, folders: Folder[]) {
  const { errors, warnings } = validate(form, { images: [], agents: [], isAdmin: false, folders });
  render(
    <StepConfirm form={form} errors={errors} warnings={warnings} images={[]} admin={false} folders={folders} onEdit={() => undefined} />,
  );
  return screen.getByTestId("confirm-card-3");
}

describe("StepConfirm's Data & storage card", () => {
  it("warns when nothing is mounted", () => {
    const card = renderConfirm({ ...DEFAULT_FORM, image: "img" }, [folder("data")]);
    expect(within(card).getByTestId("no-folder-warning").textContent).toMatch(/No folder mounted/);
    expect(card.getAttribute("data-error")).toBe("false");
  });
  it("lists the mounts with their paths and ro tags, auto-mounted dot-folders too", () => {
    const form = { ...DEFAULT_FORM, image: "img", mounts: [{ folder: "id-data", path: "", ro: false }, { folder: "id-models", path: "/mnt/m", ro: true }] };
    const card = renderConfirm(form, [folder("data"), folder("models"), folder(".cfg")]);
    expect(within(card).queryByTestId("no-folder-warning")).toBeNull();
    const rows = within(card).getAllByTestId("confirm-mount").map((r) => r.textContent);
    expect(rows).toEqual(["data → /home/work/data rw", "models → /mnt/m ro", ".cfg → /home/work/.cfg rwauto"]);
  });
  it("counts an auto-mounted dot-folder as mounted data", () => {
    const card = renderConfirm({ ...DEFAULT_FORM, image: "img" }, [folder(".cfg")]);
    expect(within(card).queryByTestId("no-folder-warning")).toBeNull();
  });
  it("is marked and explains a broken mount", () => {
    const form = { ...DEFAULT_FORM, image: "img", mounts: [{ folder: "id-data", path: "/etc", ro: false }] };
    const card = renderConfirm(form, [folder("data")]);
    expect(card.getAttribute("data-error")).toBe("true");
    expect(within(card).getByText("Mount path of data: cannot mount at or under the system directory /etc")).toBeTruthy();
  });
});
