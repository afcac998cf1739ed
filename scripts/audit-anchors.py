#!/usr/bin/env python3
"""Extract the SOC 2 mappings the audit's anchors cite, from the projects that publish them.

The catalogue (src/audit/catalogue.rs) names, beside each control, the same idea in
Kubescape's SOC 2 framework and in Prowler's GCP SOC 2 mapping. This reads both out of
checkouts at a commit and prints them as JSON:

    scripts/audit-anchors.py PATH/TO/kubescape/regolibrary PATH/TO/prowler > schema/audit-anchors.json

The test `audit::every_anchor_is_in_its_pinned_source` requires each Kubescape anchor to
be an active control of the framework whose criteria meet the control's (or a recorded
disagreement), and each Prowler anchor to be a check Prowler maps to one of the control's
criteria; re-run this on newer checkouts and the test says what moved.
"""

import json
import re
import subprocess
import sys


def git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True, text=True).stdout


def show(repo, path):
    return git(repo, "show", f"HEAD:{path}")


def criteria(text):
    """CC6.1, A1.2 … named in a text, in order, once each."""
    found = []
    for item in re.findall(r"\b(?:CC|A|C|PI|P)\d+\.\d+\b", text):
        if item not in found:
            found.append(item)
    return found


def kubescape(repo):
    framework = json.loads(show(repo, "frameworks/soc2.json"))
    controls = {}
    files = git(repo, "ls-tree", "-r", "--name-only", "HEAD", "controls").split()
    for active in framework["activeControls"]:
        control_id = active["controlID"]
        patch = active.get("patch", {})
        path = next(f for f in files if f.split("/")[-1].startswith(control_id + "-"))
        control = json.loads(show(repo, path))
        controls[control_id] = {
            "soc2_name": patch.get("name", ""),
            "criteria": criteria(patch.get("name", "")),
            "name": control.get("name", ""),
            "rules": control.get("rulesNames", []),
            "file": path,
        }
    return {"commit": git(repo, "rev-parse", "HEAD").strip(), "framework": "frameworks/soc2.json", "controls": controls}


def prowler(repo):
    path = "prowler/compliance/gcp/soc2_gcp.json"
    mapping = json.loads(show(repo, path))
    checks = {}
    for requirement in mapping["Requirements"]:
        # The name starts with the criterion (the id does not always: cc_a_1_1 is A1.2).
        criterion = criteria(requirement.get("Name", ""))[:1]
        for check in requirement["Checks"]:
            for item in criterion:
                checks.setdefault(check, [])
                if item not in checks[check]:
                    checks[check].append(item)
    # The log filter each log-metric check requires word for word (`metric_filter in
    # metric.filter`): gitopsc's log-based metrics must contain it.
    filters = {}
    services = "prowler/providers/gcp/services/logging"
    for file in git(repo, "ls-tree", "-r", "--name-only", "HEAD", services).split():
        name = file.split("/")[-1][: -len(".py")]
        if not name.startswith("logging_log_metric_filter_and_alert_for_") or not file.endswith(f"/{name}.py"):
            continue
        found = re.search(r"metric_filter = '(.*)'\n", show(repo, file))
        if found:
            filters[name] = found.group(1)
    return {
        "commit": git(repo, "rev-parse", "HEAD").strip(),
        "mapping": path,
        "checks": dict(sorted(checks.items())),
        "metric_filters": dict(sorted(filters.items())),
    }


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(json.dumps({"kubescape": kubescape(sys.argv[1]), "prowler": prowler(sys.argv[2])}, indent=2))


if __name__ == "__main__":
    main()
