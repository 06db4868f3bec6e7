// Step 3: data & storage. Storage folders do not exist yet: explain the scratch home.
import { FolderOpenOutlined } from "@ant-design/icons";
import { Empty, Typography } from "antd";

export default function StepData() {
  return (
    <Empty
      image={<FolderOpenOutlined style={{ fontSize: 56, color: "#bfbfbf" }} />}
      description={
        <div style={{ maxWidth: 520, margin: "0 auto" }}>
          <Typography.Text strong>No storage folders yet</Typography.Text>
          <Typography.Paragraph type="secondary" style={{ marginTop: 8 }}>
            Storage folders that survive a session arrive in a later version of Berth. Until
            then, a session works in <Typography.Text code>/home/work</Typography.Text>, a
            scratch directory that is <strong>deleted when the session ends</strong>. Copy
            anything you want to keep out of the session before it ends.
          </Typography.Paragraph>
        </div>
      }
    />
  );
}
