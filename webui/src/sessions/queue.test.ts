import { describe, expect, it } from "vitest";
import { queueInfo } from "./queue";

describe("queueInfo", () => {
  it("takes the queue position and the scheduler's message of a PENDING session", () => {
    expect(
      queueInfo({
        status: "PENDING",
        status_info: "no-available-resources",
        queue_position: 3,
        status_data: { scheduler: { message: "no agent has 4 cores free", position: 2 } },
      }),
    ).toEqual({ position: 3, reason: "no agent has 4 cores free" });
  });
  it("falls back to status_data's position and the status reason in words", () => {
    expect(
      queueInfo({ status: "PENDING", status_info: "no-available-resources", status_data: { scheduler: { position: 7 } } }),
    ).toEqual({ position: 7, reason: "Waiting: no agent has enough free resources right now." });
  });
  it("says nothing for other statuses", () => {
    expect(queueInfo({ status: "RUNNING", queue_position: 1 })).toEqual({ position: null, reason: null });
  });
});
