"""How each app is started inside a kernel: pure functions that return shell scripts.

The agent runs them with the engine's exec as the kernel's user (uid 1000). Every script is
idempotent: a second start of an app that runs leaves it alone (TensorBoard with a different
log directory is restarted). Output goes to ``/tmp/berth-apps/<app>.log`` in the kernel.
"""

from __future__ import annotations

import shlex

LOG_DIR = "/tmp/berth-apps"
SSH_KEY_PATH = "/home/work/id_container"
DEFAULT_LOGDIR = "/home/work/logs"
#: A terminal attaches to this tmux session, so a reload finds the same shells again.
TMUX_SESSION = "berth"


def _running(app: str) -> str:
    """Shell test: the app started by :func:`_detached` is still alive."""
    pid = f"{LOG_DIR}/{app}.pid"
    return f'{{ [ -f {pid} ] && kill -0 "$(cat {pid})" 2>/dev/null; }}'


def _detached(app: str, command: str) -> str:
    """Shell: start ``command`` in the background, its pid kept for :func:`_running`."""
    return (f"{{ mkdir -p {LOG_DIR} && {{ nohup {command} >{LOG_DIR}/{app}.log 2>&1 </dev/null "
            f"& echo $! >{LOG_DIR}/{app}.pid; }}; }}")


def jupyter_script(port: int, token: str) -> str:
    """JupyterLab on ``port``; the proxy adds ``Authorization: token <token>`` to every
    request, so the browser needs no second login while the bare port still needs the token."""
    command = (
        f"jupyter lab --no-browser --ip=0.0.0.0 --port={port} --ServerApp.root_dir=/home/work "
        f"--IdentityProvider.token={shlex.quote(token)} --ServerApp.password='' "
        "--ServerApp.allow_remote_access=True --ServerApp.quit_button=False"
    )
    return f"{_running('jupyter')} || {_detached('jupyter', command)}"


def tensorboard_script(port: int, logdir: str) -> str:
    """TensorBoard on ``port`` reading ``logdir`` (created if missing); one that reads another
    directory is stopped first."""
    quoted = shlex.quote(logdir)
    current = f"{LOG_DIR}/tensorboard.logdir"
    command = f"tensorboard --logdir {quoted} --host 0.0.0.0 --port {port}"
    pid = f"{LOG_DIR}/tensorboard.pid"
    return (
        f"mkdir -p {quoted} {LOG_DIR} && "
        f"if {_running('tensorboard')} && [ \"$(cat {current})\" = {quoted} ]; then :; else "
        f"if {_running('tensorboard')}; then kill \"$(cat {pid})\"; "
        f"while kill -0 \"$(cat {pid})\" 2>/dev/null; do sleep 0.1; done; fi; "
        f"printf %s {quoted} >{current} && {_detached('tensorboard', command)}; fi"
    )


def ssh_key_script() -> str:
    """The kernel's SSH key pair: the private key at :data:`SSH_KEY_PATH` (mode 0600, the
    kernel user's), the public one beside it; kept when it exists. The agent runs it as soon as
    the kernel starts, so the key is in the home folder from the start; :func:`sshd_script`
    runs it again for kernels started before that."""
    return (f"[ -f {SSH_KEY_PATH} ] || "
            f"ssh-keygen -q -t ed25519 -N '' -C berth-session -f {SSH_KEY_PATH}")


def sshd_script(port: int) -> str:
    """sshd as the kernel's user on ``port`` with a per-container host key and the kernel's
    key pair (:func:`ssh_key_script`): the private key at :data:`SSH_KEY_PATH`, its public
    half authorized."""
    state = "/home/work/.berth-ssh"
    sshd = (
        f"/usr/sbin/sshd -D -e -f /etc/ssh/sshd_config -p {port} -h {state}/host_ed25519 "
        f"-o PidFile={state}/sshd.pid -o UsePAM=no -o StrictModes=no "
        f"-o AuthorizedKeysFile={state}/authorized_keys -o PasswordAuthentication=no "
        "-o KbdInteractiveAuthentication=no -o PermitRootLogin=no"
    )
    keygen = "ssh-keygen -q -t ed25519 -N ''"
    return (
        f"mkdir -p {state} && chmod 700 {state} && "
        f"{{ [ -f {state}/host_ed25519 ] || {keygen} -f {state}/host_ed25519; }} && "
        f"{{ {ssh_key_script()}; }} && "
        f"cp {SSH_KEY_PATH}.pub {state}/authorized_keys && chmod 600 {state}/authorized_keys && "
        f"{{ {_running('sshd')} || {_detached('sshd', sshd)}; }}"
    )


def start_script(app: str, port: int, args: dict[str, str]) -> str | None:
    """The script that starts ``app``, or None when there is nothing to start (a preopen port
    is the user's own server)."""
    if app == "jupyter":
        return jupyter_script(port, args.get("token", ""))
    if app == "tensorboard":
        return tensorboard_script(port, args.get("logdir") or DEFAULT_LOGDIR)
    if app == "sshd":
        return sshd_script(port)
    return None


def terminal_command() -> list[str]:
    """A shell through tmux when the image has it (attach or create, so a reload returns to
    the same shells), a login shell otherwise."""
    script = (
        f"if command -v tmux >/dev/null 2>&1; then exec tmux new-session -A -s {TMUX_SESSION}; "
        "elif command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi"
    )
    return ["sh", "-c", script]
