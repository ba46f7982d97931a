"""`agentfs mount|mounts|unmount`: the store as a real directory (FUSE)."""

from __future__ import annotations

import os

import typer

from agentfs.cli.common import AsOpt, JsonOpt, StoreArg, console, err_console, handle_errors, print_json


def _principal(given: str | None) -> str:
    from agentfs.fs import ENV_PRINCIPAL, default_admin

    return given or os.environ.get(ENV_PRINCIPAL) or default_admin()


def register(app: typer.Typer) -> None:
    @app.command()
    def mount(
        store: str = StoreArg,
        # str, not Path: click stats a Path argument, which fails on a dead mount (ENOTCONN).
        mountpoint: str = typer.Argument(..., help="An empty directory to mount the store on."),
        principal: str | None = AsOpt,
        read_only: bool = typer.Option(False, "--read-only", help="Refuse every change (EROFS)."),
        foreground: bool = typer.Option(False, "--foreground", "-f",
                                        help="Stay in the foreground until unmounted (Ctrl-C unmounts)."),
        allow_other: bool = typer.Option(False, "--allow-other",
                                         help="Let other local users in (needs user_allow_other in /etc/fuse.conf "
                                              "unless root)."),
        as_json: bool = JsonOpt,
    ) -> None:
        """Mount a store as a directory, acting as one principal; returns once the mount is ready."""
        from agentfs.fuse import lifecycle

        who = _principal(principal)
        with handle_errors(as_json):
            if foreground:
                def ready(record: dict) -> None:
                    err_console.print(f"mounted {record['store']} at {record['mountpoint']} as "
                                      f"{record['principal']} (Ctrl-C to unmount)", markup=False)

                code = lifecycle.run_foreground(store, mountpoint, principal=who, read_only=read_only,
                                                allow_other=allow_other, on_ready=ready)
                raise typer.Exit(code)
            record = lifecycle.mount(store, mountpoint, principal=who, read_only=read_only, allow_other=allow_other)
        if as_json:
            print_json(record)
        else:
            mode = " read-only" if read_only else ""
            console.print(f"mounted {record['store']} at {record['mountpoint']} as {record['principal']}{mode} "
                          f"(pid {record['pid']})", markup=False)

    @app.command()
    def mounts(as_json: bool = JsonOpt) -> None:
        """Every agentfs mount: where, which store, as whom, by which process, and its state."""
        from agentfs.fuse import lifecycle

        with handle_errors(as_json):
            rows = lifecycle.mounts()
        if as_json:
            print_json(rows)
            return
        if not rows:
            console.print("no agentfs mounts")
            return
        # Plain lines, never truncated: a mount point is copied from here into `agentfs unmount`.
        for row in rows:
            flags = " read-only" if row.get("read_only") else ""
            since = (row.get("started") or "")[:19].replace("T", " ")
            console.print(f"{row['mountpoint']}  {row['state']}{flags}  store {row.get('store') or '-'}  as "
                          f"{row.get('principal') or '-'}  pid {row.get('pid') or '-'}"
                          + (f"  since {since}" if since else ""), markup=False, soft_wrap=True)

    @app.command()
    def unmount(
        mountpoint: str = typer.Argument(..., help="Where the store is mounted (a dead mount too)."),
        as_json: bool = JsonOpt,
    ) -> None:
        """Unmount (the daemon stops cleanly); also clears a mount whose daemon died."""
        from agentfs.fuse import lifecycle

        with handle_errors(as_json):
            result = lifecycle.unmount(mountpoint)
        if as_json:
            print_json(result)
        else:
            console.print(f"unmounted {result['mountpoint']}", markup=False)
