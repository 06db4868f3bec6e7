import { EditOutlined } from "@ant-design/icons";
import { Button, Form, Input, Space, Tooltip, Typography } from "antd";
import type { InputRef } from "antd";
import { useEffect, useRef, useState } from "react";
import { api, ApiError } from "../api";
import { sessionNameError } from "../rules";
import type { Session } from "../types";

interface Props {
  session: Session;
  /** Why renaming is not possible now, or null when it is. */
  disabledReason: string | null;
  onRenamed: (session: Session) => void;
}

/** The session name with an Edit button; Enter saves, Esc cancels, errors show at the field. */
export default function RenameField({ session, disabledReason, onRenamed }: Props) {
  const [editing, setEditing] = useState(false);
  const [value, setValue] = useState(session.name);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<InputRef>(null);

  useEffect(() => {
    if (!editing) setValue(session.name);
  }, [session.name, editing]);

  useEffect(() => {
    if (editing) input.current?.focus({ cursor: "all" });
  }, [editing]);

  const cancel = () => {
    setEditing(false);
    setError(null);
    setValue(session.name);
  };

  const save = async () => {
    const name = value;
    if (name === session.name) return cancel();
    const problem = sessionNameError(name);
    if (problem) {
      setError(`Name ${problem}`);
      return;
    }
    setBusy(true);
    try {
      const renamed = await api.renameSession(session.id, name);
      setEditing(false);
      setError(null);
      onRenamed(renamed);
    } catch (e) {
      const err = e as ApiError;
      const msg = err.fieldMessage("name");
      setError(msg ? `Name ${msg}` : err.message);
    } finally {
      setBusy(false);
    }
  };

  if (!editing) {
    return (
      <Space style={{ maxWidth: "100%" }}>
        <Typography.Title level={4} style={{ margin: 0, wordBreak: "break-all" }} data-testid="drawer-name">
          {session.name}
        </Typography.Title>
        <Tooltip title={disabledReason ?? "Rename"}>
          <Button
            type="text"
            icon={<EditOutlined />}
            disabled={disabledReason !== null}
            onClick={() => setEditing(true)}
            aria-label="Rename"
          />
        </Tooltip>
      </Space>
    );
  }

  return (
    <Form.Item
      style={{ margin: 0, width: "100%", maxWidth: 420 }}
      validateStatus={error ? "error" : undefined}
      help={error ?? "Enter saves, Esc cancels"}
    >
      <Input
        ref={input}
        value={value}
        disabled={busy}
        maxLength={64}
        showCount
        aria-label="New session name"
        onChange={(e) => {
          setValue(e.target.value);
          setError(null);
        }}
        onKeyDown={(e) => {
          if (e.key === "Enter") {
            e.preventDefault();
            void save();
          } else if (e.key === "Escape") {
            e.preventDefault();
            e.stopPropagation();
            cancel();
          }
        }}
      />
    </Form.Item>
  );
}
