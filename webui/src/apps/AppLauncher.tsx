import { AppstoreOutlined } from "@ant-design/icons";
import { Modal, Space } from "antd";
import AppLauncherBody from "./AppLauncherBody";

export interface AppsTarget {
  id: string;
  name: string;
}

interface Props {
  /** The session whose apps to show; the dialog is open while this is set. */
  target: AppsTarget | null;
  onClose: () => void;
}

/** The app launcher dialog of a session (Jupyter, Terminal, TensorBoard, SSH/SFTP, ports). */
export default function AppLauncher({ target, onClose }: Props) {
  return (
    <Modal
      open={target !== null}
      onCancel={onClose}
      footer={null}
      width={560}
      destroyOnHidden
      title={
        <Space>
          <AppstoreOutlined />
          <span>Apps of {target?.name}</span>
        </Space>
      }
    >
      {target && <AppLauncherBody key={target.id} sessionId={target.id} />}
    </Modal>
  );
}
