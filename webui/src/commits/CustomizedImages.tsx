import { DeleteOutlined } from "@ant-design/icons";
import { Button, Collapse, List, Popconfirm, Space, Tag, Typography } from "antd";
import { useState } from "react";
import { ApiError } from "../api";
import { useToast } from "../notifications/toast";
import { customizedName } from "./commit";
import { commitsApi } from "./commitsApi";

interface ImageLike {
  ref: string;
  display_name: string;
  labels?: Record<string, string>;
}

/** The "Customized" tag with the name its owner gave. */
export function CustomizedTag({ name }: { name: string }) {
  return (
    <Tag color="gold" data-testid="customized-tag" style={{ marginInlineEnd: 4 }}>
      Customized · {name}
    </Tag>
  );
}

interface Props {
  /** The launcher's list (the server shows customized images to their owner only). */
  images: ImageLike[];
  /** The image the form uses now. */
  current?: string;
  onPick: (ref: string) => void;
  /** After a removal: the launcher reloads its list. */
  onRemoved: (ref: string) => void;
}

/** Your customized images, folded: each with its tag, full name (copy), Use and Delete. */
export default function CustomizedImages({ images, current, onPick, onRemoved }: Props) {
  const toast = useToast();
  const [removing, setRemoving] = useState<string | null>(null);
  const mine = images.filter((i) => customizedName(i) !== null);
  if (mine.length === 0) return null;

  const remove = async (ref: string) => {
    setRemoving(ref);
    try {
      await commitsApi.removeCustomized(ref);
      toast.success(`Removed ${ref}`);
      onRemoved(ref);
    } catch (e) {
      toast.error(`Could not remove ${ref}: ${(e as ApiError).message}`);
    } finally {
      setRemoving(null);
    }
  };

  return (
    <Collapse
      size="small"
      style={{ marginBottom: 16 }}
      data-testid="customized-images"
      items={[
        {
          key: "mine",
          label: `Your customized images (${mine.length})`,
          children: (
            <List
              size="small"
              dataSource={mine}
              renderItem={(i) => (
                <List.Item
                  data-testid="customized-image"
                  data-ref={i.ref}
                  actions={[
                    <Button key="use" size="small" disabled={i.ref === current} onClick={() => onPick(i.ref)}>
                      {i.ref === current ? "In use" : "Use"}
                    </Button>,
                    <Popconfirm
                      key="delete"
                      title="Delete this customized image?"
                      description="Sessions can no longer be launched from it."
                      okText="Delete"
                      okButtonProps={{ danger: true }}
                      onConfirm={() => remove(i.ref)}
                    >
                      <Button
                        size="small"
                        danger
                        icon={<DeleteOutlined />}
                        loading={removing === i.ref}
                        aria-label={`Delete ${customizedName(i)}`}
                      />
                    </Popconfirm>,
                  ]}
                >
                  <Space direction="vertical" size={0} style={{ minWidth: 0 }}>
                    <span>
                      <CustomizedTag name={customizedName(i) ?? ""} />
                      <Typography.Text type="secondary">from {i.display_name}</Typography.Text>
                    </span>
                    <Typography.Text code copyable style={{ overflowWrap: "anywhere" }}>
                      {i.ref}
                    </Typography.Text>
                  </Space>
                </List.Item>
              )}
            />
          ),
        },
      ]}
    />
  );
}
