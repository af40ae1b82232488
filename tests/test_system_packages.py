""".ci/system-packages (called by `make test`): installs Debian's chromium only when it is missing,
as root or through sudo, and otherwise stops saying what to do. Run against a PATH holding only
bash, coreutils and fakes of apt-get / sudo / id that record their calls, so nothing is installed."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / ".ci" / "system-packages"


def _fake(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)


@pytest.fixture
def machine(tmp_path):
    """A PATH without chromium; apt-get 'installs' chromium by creating a fake one on that PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "env", "cat"):
        os.symlink(f"/usr/bin/{tool}" if Path(f"/usr/bin/{tool}").exists() else f"/bin/{tool}", bin_dir / tool)
    calls = tmp_path / "calls.log"
    _fake(bin_dir, "apt-get", f'echo "apt-get $*" >> {calls}\n'
                              f'if [ "$1" = install ]; then printf "#!/bin/bash\\n" > {bin_dir}/chromium; '
                              f'/bin/chmod +x {bin_dir}/chromium; fi\n')

    def run(uid=0, sudo=False, chromium=False, extra_env=None):
        _fake(bin_dir, "id", f'[ "$1" = -u ] && echo {uid}\n')
        if sudo:
            _fake(bin_dir, "sudo", f'echo "sudo $*" >> {calls}\nexec "$@"\n')
        if chromium:
            _fake(bin_dir, "chromium", "")
        env = {"PATH": str(bin_dir), "HOME": str(tmp_path), **(extra_env or {})}
        done = subprocess.run(["/bin/bash", str(SCRIPT)], capture_output=True, text=True, env=env)
        return done, calls.read_text().splitlines() if calls.exists() else []

    return run


def test_nothing_is_installed_when_chromium_is_there(machine):
    done, calls = machine(chromium=True)
    assert done.returncode == 0, done.stderr
    assert calls == []


def test_root_installs_the_missing_chromium_with_apt_get(machine):
    done, calls = machine(uid=0)
    assert done.returncode == 0, done.stderr
    assert calls[0] == "apt-get update -qq"
    assert calls[1].startswith("apt-get install -y") and calls[1].endswith("chromium")
    assert "installed chromium" in done.stdout


def test_a_user_with_sudo_installs_through_sudo(machine):
    done, calls = machine(uid=1000, sudo=True)
    assert done.returncode == 0, done.stderr
    assert [c for c in calls if c.startswith("sudo")] == ["sudo apt-get update -qq",
                                                          "sudo apt-get install -y -qq --no-install-recommends chromium"]


def test_a_user_without_sudo_is_told_what_to_do(machine):
    done, calls = machine(uid=1000)
    assert done.returncode == 1
    assert "cannot install" in done.stderr and "apt-get install chromium" in done.stderr
    assert calls == []


def test_a_named_browser_that_does_not_exist_is_an_error(machine, tmp_path):
    done, calls = machine(extra_env={"TOPICTENSOR_CHROMIUM": str(tmp_path / "nope")})
    assert done.returncode == 1 and "TOPICTENSOR_CHROMIUM" in done.stderr
    assert calls == []


def test_make_test_runs_it_before_pytest():
    """The README's test command is what installs them (not only .ci/run)."""
    dry = subprocess.run(["make", "-n", "test", "AIRFLOW_HOME=/nonexistent-dir-for-dry-run"], cwd=ROOT,
                         capture_output=True, text=True)
    lines = dry.stdout.splitlines()
    packages = next(i for i, line in enumerate(lines) if line.strip() == ".ci/system-packages")
    pytest_line = next(i for i, line in enumerate(lines) if "-m pytest" in line)
    assert packages < pytest_line
