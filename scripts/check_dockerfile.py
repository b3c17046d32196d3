#!/usr/bin/env python3
"""Checks deploy/container/Dockerfile against the package and the executables built here, since Docker itself does
not run in the tests.

usage: check_dockerfile.py ROOT toolchain SWIFT
       check_dockerfile.py ROOT copies SWIFT
       check_dockerfile.py ROOT build-packages SWIFT
       check_dockerfile.py ROOT runtime-packages EXECUTABLE...

- toolchain: the build stage's `swift:X.Y` image is at least the manifest's swift-tools-version.
- copies: every path a COPY names exists, and every directory a target of Package.swift uses (its `path:`, or
  Sources/NAME and Tests/NAME) is under a copied path, as is Package.swift itself: SwiftPM loads every target.
- build-packages: the build stage installs pkg-config and every apt provider of the manifest's system libraries.
- runtime-packages: the runtime stage installs the Debian package of every shared library the executables link
  (`ldd`, mapped to packages with `dpkg -S`). The Swift runtime is linked statically in the image, so its libraries
  do not count, but what they link does. Libraries linked directly (by the executable or by the Swift runtime) need
  their package listed by name; libraries those pull in need only be dependencies of a listed package. Every lib*
  package listed must be needed. libc6 is in every Debian image and need not be listed.

The host must run the same Debian release as the runtime stage (the package names are release-specific).
"""

import json
import os
import re
import shlex
import subprocess
import sys

DOCKERFILE = "deploy/container/Dockerfile"
SWIFT_RUNTIME = re.compile(r"^lib(swift|_swift|Foundation|_Foundation|dispatch\.so|BlocksRuntime\.so)")
IN_EVERY_IMAGE = {"libc6"}


def instructions(path):
    """The Dockerfile's instructions as (keyword, text), continuation lines joined and comments dropped."""
    joined, current = [], ""
    with open(path) as f:
        for line in f:
            stripped = line.strip()
            if not current and (not stripped or stripped.startswith("#")):
                continue
            if stripped.startswith("#"):
                continue
            if stripped.endswith("\\"):
                current += stripped[:-1] + " "
                continue
            joined.append(current + stripped)
            current = ""
    if current:
        joined.append(current)
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1] if " " in text else "") for text in joined]


def stages(path):
    """The Dockerfile's stages: a list of (FROM argument, [(keyword, text)...])."""
    result = []
    for keyword, text in instructions(path):
        if keyword == "FROM":
            result.append((text, []))
        elif result:
            result[-1][1].append((keyword, text))
    return result


def apt_packages(stage):
    """The packages a stage's `apt-get install` commands name."""
    packages = []
    for keyword, text in stage[1]:
        if keyword != "RUN":
            continue
        for command in re.split(r"&&|;", text):
            words = shlex.split(command)
            if "apt-get" in words and "install" in words:
                after = words[words.index("install") + 1:]
                packages += [word for word in after if not word.startswith("-")]
    return packages


def manifest(root, swift):
    output = subprocess.run(
        [swift, "package", "dump-package"], cwd=root, check=True, capture_output=True, text=True).stdout
    return json.loads(output)


def check_toolchain(root, swift):
    build = stages(os.path.join(root, DOCKERFILE))[0][0]
    match = re.match(r"swift:(\d+)\.(\d+)", build)
    if not match:
        return [f"the first stage is not built from a swift:X.Y image: FROM {build}"]
    image = (int(match[1]), int(match[2]))
    with open(os.path.join(root, "Package.swift")) as f:
        tools = re.match(r"// swift-tools-version:\s*(\d+)\.(\d+)", f.readline())
    needed = (int(tools[1]), int(tools[2]))
    if image < needed:
        return [f"FROM {build} is older than the manifest's swift-tools-version {needed[0]}.{needed[1]}"]
    print(f"     (swift {image[0]}.{image[1]} image, tools version {needed[0]}.{needed[1]})")
    return []


def check_copies(root, swift):
    problems, copied = [], []
    for keyword, text in stages(os.path.join(root, DOCKERFILE))[0][1]:
        if keyword != "COPY":
            continue
        words = [word for word in text.split() if not word.startswith("--")]
        for source in words[:-1]:
            if not os.path.exists(os.path.join(root, source)):
                problems.append(f"COPY {source}: no such path in the repository")
            copied.append(os.path.normpath(source))

    def is_copied(path):
        path = os.path.normpath(path)
        return any(path == source or path.startswith(source + "/") for source in copied)

    needed = ["Package.swift"]
    for target in manifest(root, swift)["targets"]:
        default = "Tests" if target["type"] == "test" else "Sources"
        needed.append(target.get("path") or f"{default}/{target['name']}")
    for path in needed:
        if not is_copied(path):
            problems.append(f"{path} (used by Package.swift) is not copied into the build stage")
    print(f"     ({len(copied)} paths copied, {len(needed)} used by the manifest)")
    return problems


def check_build_packages(root, swift):
    installed = set(apt_packages(stages(os.path.join(root, DOCKERFILE))[0]))
    needed = {"pkg-config"}
    for target in manifest(root, swift)["targets"]:
        for provider in target.get("providers") or []:
            for packages in provider.get("apt", []):
                needed.update(packages)
    missing = sorted(needed - installed)
    return [f"the build stage does not install {', '.join(missing)}"] if missing else []


def owner(path):
    """The Debian package that installed a library, trying the path as given and resolved, in /lib and /usr/lib."""
    candidates = []
    for candidate in (path, os.path.realpath(path)):
        candidates.append(candidate)
        if candidate.startswith("/usr/lib/"):
            candidates.append(candidate[len("/usr"):])
        elif candidate.startswith("/lib/"):
            candidates.append("/usr" + candidate)
    for candidate in candidates:
        result = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if result.returncode == 0:
            return result.stdout.split(":", 1)[0].strip()
    return None


def linked(executable):
    """Every library `ldd` resolves for an executable, as {soname: path}."""
    output = subprocess.run(["ldd", executable], check=True, capture_output=True, text=True).stdout
    libraries = {}
    for line in output.splitlines():
        match = re.match(r"\s*(\S+) => (\S+) \(", line)
        if match:
            libraries[match[1]] = match[2]
        elif "not found" in line:
            raise SystemExit(f"--- {executable}: {line.strip()}")
    return libraries


def needed(path):
    """The sonames an ELF file links directly (its DT_NEEDED entries)."""
    output = subprocess.run(["readelf", "-d", path], check=True, capture_output=True, text=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", output)


def dependency_closure(packages):
    """The installed packages that `packages` depend on (Depends and Pre-Depends), recursively, themselves included."""
    seen, queue = set(), list(packages)
    while queue:
        package = queue.pop()
        if package in seen:
            continue
        seen.add(package)
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Depends}, ${Pre-Depends}", package], capture_output=True, text=True)
        if result.returncode != 0:
            continue
        for group in result.stdout.split(","):
            for alternative in group.split("|"):
                name = re.sub(r"\(.*?\)|:\w+", "", alternative).strip()
                if name and subprocess.run(["dpkg-query", "-W", name], capture_output=True).returncode == 0:
                    queue.append(name)
                    break
    return seen


def check_runtime_packages(root, executables):
    listed = set(apt_packages(stages(os.path.join(root, DOCKERFILE))[-1]))
    problems, direct, indirect = [], {}, {}
    for executable in executables:
        libraries = linked(executable)
        runtime = {name: path for name, path in libraries.items() if SWIFT_RUNTIME.match(name)}
        first_hand = set(needed(executable))
        for path in runtime.values():
            first_hand.update(needed(path))
        for name, path in libraries.items():
            if name in runtime:
                continue
            package = owner(path)
            if package is None:
                problems.append(f"{os.path.basename(executable)} links {path}, which no Debian package installed")
                continue
            (direct if name in first_hand else indirect).setdefault(package, set()).add(name)

    for package in sorted(set(direct) - listed - IN_EVERY_IMAGE):
        problems.append(f"the runtime stage lacks {package} ({', '.join(sorted(direct[package]))}, linked directly)")
    closure = dependency_closure(listed | IN_EVERY_IMAGE)
    for package in sorted(set(indirect) - closure - set(direct)):
        problems.append(
            f"the runtime stage lacks {package} ({', '.join(sorted(indirect[package]))}): no listed package "
            "depends on it")
    for package in sorted(listed):
        if package.startswith("lib") and package not in direct and package not in indirect:
            problems.append(f"the runtime stage installs {package}, which no executable links")
    print(f"     (linked directly from: {', '.join(sorted(direct))})")
    return problems


def main():
    root, what = sys.argv[1], sys.argv[2]
    checks = {
        "toolchain": lambda: check_toolchain(root, sys.argv[3]),
        "copies": lambda: check_copies(root, sys.argv[3]),
        "build-packages": lambda: check_build_packages(root, sys.argv[3]),
        "runtime-packages": lambda: check_runtime_packages(root, sys.argv[3:]),
    }
    problems = checks[what]()
    for problem in problems:
        print("--- " + problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
