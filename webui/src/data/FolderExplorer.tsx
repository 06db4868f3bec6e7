// The file explorer of one storage folder, in a modal: browse, upload (files or a whole
// directory, resumable), download (a directory as a zip), new folder, rename/move, delete.
import {
  CloudUploadOutlined,
  DownloadOutlined,
  FolderAddOutlined,
  FolderOpenOutlined,
  HomeOutlined,
  ReloadOutlined,
} from "@ant-design/icons";
import { Alert, App, Breadcrumb, Button, Empty, Grid, Modal, Space, Tag, Tooltip, Typography } from "antd";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { ApiError } from "../api";
import FileTable, { PAGE_SIZES, type FileView } from "./FileTable";
import { downloadUrl, foldersApi } from "./foldersApi";
import PathDialog from "./PathDialog";
import { joinPath, pathCrumbs } from "./rules";
import type { FileEntry, FileListing, Folder } from "./types";
import { aggregateProgress } from "./upload";
import UploadList from "./UploadList";
import { useUploads } from "./useUploads";

interface Props {
  folder: Folder;
  open: boolean;
  onClose: () => void;
}

const FIRST_VIEW: FileView = { sort: "name", order: "asc", page: 1, size: PAGE_SIZES[0] };
/** Reload the listing this long after the last finished upload (not once per file). */
const RELOAD_AFTER_UPLOAD_MS = 400;

export default function FolderExplorer({ folder, open, onClose }: Props) {
  const { message, modal } = App.useApp();
  const phone = Grid.useBreakpoint().sm === false;
  const writable = folder.my_permission === "rw";
  const [dir, setDir] = useState("");
  const [view, setView] = useState<FileView>(FIRST_VIEW);
  const [listing, setListing] = useState<FileListing | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [reloads, setReloads] = useState(0);
  const [creating, setCreating] = useState(false);
  const [moving, setMoving] = useState<FileEntry | null>(null);
  const filesInput = useRef<HTMLInputElement>(null);
  const dirInput = useRef<HTMLInputElement>(null);
  const reloadTimer = useRef<number>();

  const reload = useCallback(() => setReloads((n) => n + 1), []);
  const uploads = useUploads(() => {
    window.clearTimeout(reloadTimer.current);
    reloadTimer.current = window.setTimeout(reload, RELOAD_AFTER_UPLOAD_MS);
  });
  useEffect(() => () => window.clearTimeout(reloadTimer.current), []);
  // The same explorer may be shown another folder: list only this folder's uploads.
  const mine = useMemo(() => uploads.items.filter((i) => i.folderId === folder.id), [uploads.items, folder.id]);
  const mineProgress = useMemo(() => aggregateProgress(mine), [mine]);

  // Another folder (or the same one opened again) starts at its root.
  useEffect(() => {
    if (!open) return;
    setDir("");
    setView(FIRST_VIEW);
    setListing(null);
  }, [folder.id, open]);

  useEffect(() => {
    if (!open) return;
    const ctrl = new AbortController();
    setLoading(true);
    foldersApi
      .files(
        folder.id,
        { path: dir, sort: view.sort, order: view.order, offset: (view.page - 1) * view.size, limit: view.size },
        ctrl.signal,
      )
      .then(
        (l) => {
          setListing(l);
          setError(null);
          setLoading(false);
        },
        (e: Error) => {
          if (e.name === "AbortError") return;
          setError(e instanceof ApiError ? e : new ApiError(0, e.message));
          setListing(null);
          setLoading(false);
        },
      );
    return () => ctrl.abort();
  }, [open, folder.id, dir, view, reloads]);

  const enter = (path: string) => {
    setDir(path);
    setView((v) => ({ ...v, page: 1 }));
  };

  // A closed explorer forgets its finished uploads: opened again (or on another folder) it
  // starts with an empty list.
  const close = () => {
    if (uploads.progress.active === 0) {
      uploads.queue.clearFinished();
      onClose();
      return;
    }
    modal.confirm({
      title: "Stop the uploads?",
      content: `${uploads.progress.active} file(s) are still uploading. Closing stops them; pick the same files again later and they resume where they stopped.`,
      okText: "Stop and close",
      okButtonProps: { danger: true },
      cancelText: "Keep uploading",
      onOk: () => {
        uploads.queue.cancelAll();
        uploads.queue.clearFinished();
        onClose();
      },
    });
  };

  const picked = (input: HTMLInputElement | null) => {
    const files = input?.files ? Array.from(input.files) : [];
    if (input) input.value = ""; // the same files may be picked again
    if (files.length > 0) uploads.queue.add(folder.id, dir, files);
  };

  const remove = (entry: FileEntry) => {
    const isDir = entry.type === "dir";
    modal.confirm({
      title: isDir ? `Delete the directory "${entry.name}"?` : `Delete "${entry.name}"?`,
      content: isDir
        ? "This deletes everything inside it, too. It cannot be undone."
        : "The file is deleted for good; it cannot be undone.",
      okText: "Delete",
      okButtonProps: { danger: true },
      onOk: async () => {
        try {
          await foldersApi.remove(folder.id, entry.path, isDir);
        } catch (e) {
          message.error(`Could not delete ${entry.path}: ${(e as Error).message}`);
          return;
        }
        message.success(`Deleted ${entry.path}`);
        reload();
      },
    });
  };

  const crumbs = pathCrumbs(dir);
  const empty = (
    <Empty
      image={Empty.PRESENTED_IMAGE_SIMPLE}
      description={
        writable ? "This folder is empty — upload files or create a folder" : "This folder is empty"
      }
    />
  );

  return (
    <Modal
      open={open}
      onCancel={close}
      footer={null}
      width={phone ? "100%" : 1040}
      style={phone ? { top: 0, maxWidth: "100vw", margin: 0, paddingBottom: 0 } : { top: 40 }}
      styles={phone ? { content: { padding: 12 } } : undefined}
      title={
        <Space wrap size={6}>
          <FolderOpenOutlined />
          <span data-testid="explorer-title">{folder.name}</span>
          {!writable && <Tag color="default">read-only</Tag>}
        </Space>
      }
      data-testid="folder-explorer"
    >
      <Space wrap style={{ width: "100%", justifyContent: "space-between", marginBottom: 12 }}>
        <Breadcrumb
          items={[
            {
              title: (
                <a onClick={() => enter("")} aria-label="Folder root">
                  <HomeOutlined /> {folder.name}
                </a>
              ),
            },
            ...crumbs.map((c, i) => ({
              title: i === crumbs.length - 1 ? <span>{c.name}</span> : <a onClick={() => enter(c.path)}>{c.name}</a>,
            })),
          ]}
        />
        <Space wrap size={phone ? 4 : 8}>
          {writable && (
            <>
              <Button type="primary" icon={<CloudUploadOutlined />} onClick={() => filesInput.current?.click()}>
                Upload files
              </Button>
              <Button icon={<CloudUploadOutlined />} onClick={() => dirInput.current?.click()}>
                Upload folder
              </Button>
              <Button icon={<FolderAddOutlined />} onClick={() => setCreating(true)}>
                New folder
              </Button>
            </>
          )}
          <Tooltip title={dir ? "Download this directory as a zip" : "Download the whole folder as a zip"}>
            <Button icon={<DownloadOutlined />} href={downloadUrl(folder.id, dir)} aria-label="Download as zip" />
          </Tooltip>
          <Tooltip title="Refresh">
            <Button icon={<ReloadOutlined />} onClick={reload} aria-label="Refresh" />
          </Tooltip>
        </Space>
      </Space>
      <input ref={filesInput} type="file" multiple hidden data-testid="upload-files-input" onChange={(e) => picked(e.currentTarget)} />
      <input
        ref={dirInput}
        type="file"
        multiple
        hidden
        data-testid="upload-folder-input"
        onChange={(e) => picked(e.currentTarget)}
        {...{ webkitdirectory: "", directory: "" }}
      />
      {error && (
        <Alert
          type="error"
          showIcon
          style={{ marginBottom: 12 }}
          message={`Could not list ${dir ? `"${dir}"` : "the folder"}`}
          description={error.message}
          action={
            <Space direction="vertical">
              <Button size="small" onClick={reload}>
                Retry
              </Button>
              {dir && (error.status === 404 || error.status === 400) && (
                <Button size="small" onClick={() => enter("")}>
                  Go to the root
                </Button>
              )}
            </Space>
          }
        />
      )}
      {!error && (
        <FileTable
          folderId={folder.id}
          entries={listing?.entries ?? []}
          total={listing?.total ?? 0}
          loading={loading && listing === null}
          view={view}
          writable={writable}
          empty={empty}
          onView={setView}
          onEnter={enter}
          onMove={setMoving}
          onDelete={remove}
        />
      )}
      <UploadList items={mine} progress={mineProgress} queue={uploads.queue} />
      {!writable && (
        <Typography.Paragraph type="secondary" style={{ marginTop: 12, marginBottom: 0 }}>
          You may read this folder but not change it.
        </Typography.Paragraph>
      )}
      <PathDialog
        open={creating}
        title="New folder"
        label="Name"
        okText="Create"
        initial=""
        help={`Created in ${dir ? `"${dir}"` : "the folder's root"}; "a/b" makes nested folders.`}
        onCancel={() => setCreating(false)}
        onSubmit={async (name) => {
          const path = joinPath(dir, name);
          await foldersApi.mkdir(folder.id, path, true);
          setCreating(false);
          message.success(`Created ${path}`);
          reload();
        }}
      />
      <PathDialog
        open={moving !== null}
        title={moving ? `Rename or move "${moving.name}"` : ""}
        label="New path"
        okText="Move"
        initial={moving?.path ?? ""}
        help="Relative to the folder's root: change the last part to rename, the parts before it to move."
        onCancel={() => setMoving(null)}
        onSubmit={async (dst) => {
          if (!moving) return;
          if (dst === moving.path) {
            setMoving(null);
            return;
          }
          await foldersApi.move(folder.id, moving.path, dst);
          setMoving(null);
          message.success(`Moved ${moving.path} to ${dst}`);
          reload();
        }}
      />
    </Modal>
  );
}
