"""Install every top-level folder of the repository under the one import namespace `charter.`.

The repository keeps the architecture visible (`landing_zone/`, `evidence/`, ... beside
`charter/`), while the wheel installs a single top-level name, `charter`: `landing_zone/`
becomes `charter.landing_zone`, and so on. pyproject.toml cannot compute this mapping (its
`packages.find` names packages after their folders), so this file does, and nothing else.
"""

from setuptools import find_packages, setup

#: Folders installed as `charter.<folder>` (the CLI and ground floor live in `charter/` itself).
DOMAINS = ("landing_zone", "controls", "evidence", "workloads", "optimizer", "runbooks", "templates", "cost")

packages = find_packages(include=["charter", "charter.*"])
package_dir = {"charter": "charter"}
for folder in DOMAINS:
    package_dir[f"charter.{folder}"] = folder
    packages += [f"charter.{p}" for p in find_packages(include=[folder, f"{folder}.*"])]

setup(packages=packages, package_dir=package_dir)
