/**
 * A stand-in for systemd's side of $NOTIFY_SOCKET: a datagram socket that
 * prints each notification as one line ("READY=1 | STATUS=…"), and closes the
 * barrier descriptors systemd-notify(1) sends and waits on. Node has no unix
 * datagram sockets, hence python3. Needs the tools 'python3' and, for the
 * agent's side, 'systemd-notify' (tests/helpers/require-tool.ts).
 */
import { startProcess, type Proc } from './process.ts';

/** The listener, for `python3 -c SCRIPT SOCKET` (also run by package-deb's test and scripts/test-arm64.ts, whose agent runs as another user: hence the mode). */
export const NOTIFY_LISTENER_SCRIPT = `
import array, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print("listening", flush=True)
while True:
    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(64))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
            for fd in fds:
                os.close(fd)
    print(msg.decode("utf-8", "replace").strip().replace("\\n", " | "), flush=True)
`;

/** Listening on `socketPath` once it resolves; its `lines` are "out: <notification>" (stopAllProcesses ends it). */
export async function startNotifyListener(socketPath: string): Promise<Proc> {
  const p = startProcess('python3', ['-c', NOTIFY_LISTENER_SCRIPT, socketPath]);
  await p.waitForLine(/^out: listening$/);
  return p;
}

/** The notifications received so far, in order (without systemd-notify's own BARRIER=1 after each). */
export const notifications = (p: Proc): string[] => p.lines.filter((l) => l.startsWith('out: ') && l !== 'out: listening' && l !== 'out: BARRIER=1').map((l) => l.slice(5));
