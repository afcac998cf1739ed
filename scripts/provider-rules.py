#!/usr/bin/env python3
"""Extract the google provider's validation rules gitopsc applies at compile time.

gitopsc checks a profile value with the provider's own rule where it becomes an argument
the provider validates at plan (docs/infrastructure.md, "The provider's own rules"). This
reads those rules out of a checkout of hashicorp/terraform-provider-google and prints them
as JSON, with the commit they come from:

    scripts/provider-rules.py PATH/TO/terraform-provider-google [COMMIT] > schema/provider-rules.json

The tests (`terraform::every_provider_rule_matches_its_pinned_source`) run each recorded
pattern beside gitopsc's rule over a corpus of names, and every compiled name through it,
so a rule cannot drift from the provider silently: re-run this on a newer provider and the
tests say what changed.
"""

import json
import re
import subprocess
import sys

VALIDATION = "google/verify/validation.go"

# (resource type, argument, file that declares it): the arguments gitopsc fills with a
# name the provider validates.
ARGUMENTS = [
    ("google_compute_network", "name", "google/services/compute/resource_compute_network.go"),
    ("google_compute_subnetwork", "name", "google/services/compute/resource_compute_subnetwork.go"),
    ("google_compute_firewall", "name", "google/services/compute/resource_compute_firewall.go"),
    ("google_compute_security_policy", "name", "google/services/compute/resource_compute_security_policy.go"),
    ("google_compute_address", "name", "google/services/compute/resource_compute_address.go"),
    ("google_compute_router", "name", "google/services/compute/resource_compute_router.go"),
    ("google_compute_router_nat", "name", "google/services/compute/resource_compute_router_nat.go"),
    ("google_service_account", "account_id", "google/services/resourcemanager/resource_google_service_account.go"),
    ("google_container_cluster", "name", "google/services/container/resource_container_cluster.go"),
]


def show(repo, commit, path):
    return subprocess.run(
        ["git", "--git-dir", repo, "show", f"{commit}:{path}"],
        check=True, capture_output=True, text=True,
    ).stdout


def main():
    repo = sys.argv[1]
    commit = sys.argv[2] if len(sys.argv) > 2 else "HEAD"
    commit = subprocess.run(
        ["git", "--git-dir", repo, "rev-parse", commit], check=True, capture_output=True, text=True
    ).stdout.strip()
    validation = show(repo, commit, VALIDATION)
    gce = re.search(r"func ValidateGCEName\(.*?\n\s*re := `([^`]*)`", validation, re.S).group(1)
    template = re.search(r'RFC1035NameTemplate\s*=\s*"([^"]*)"', validation).group(1)
    rules = []
    for kind, argument, path in ARGUMENTS:
        source = show(repo, commit, path)
        # The argument's schema: the first block of that name that validates (a resource's
        # identity schema declares the name too, without a rule).
        blocks = re.findall(r'\n(\t+)"%s": \{(.*?)\n\1\},' % argument, source, re.S)
        block = next(b for _, b in blocks if "ValidateFunc:" in b)
        func = re.search(r"ValidateFunc:\s*([^\n]+)\n", block).group(1).strip().rstrip(",")
        if func == "verify.ValidateGCEName":
            patterns, lengths = [gce], None
        elif func.startswith("verify.ValidateRegexp("):
            patterns, lengths = [re.search(r"`([^`]*)`", func).group(1)], None
        elif func.startswith("verify.ValidateRFC1035Name("):
            low, high = map(int, re.search(r"\((\d+),\s*(\d+)\)", func).groups())
            patterns, lengths = ["^" + template.replace("%v", "*") + "$"], [low, high]
        elif func.startswith("func("):
            # A rule written out in the schema: every pattern it compiles must match, and
            # the value be no longer than the length it compares with.
            func = "inline"
            patterns = re.findall(r'regexp\.MustCompile\("([^"]*)"\)', block)
            longest = re.search(r"len\(value\) > (\d+)", block)
            lengths = [0, int(longest.group(1))] if longest else None
        else:
            raise SystemExit(f"{path}: {argument}: unknown rule {func}")
        rules.append({
            "resource": kind,
            "argument": argument,
            "source": path,
            "validate": func,
            "patterns": patterns,
            "lengths": lengths,
        })
    out = {
        "provenance": {
            "repository": "hashicorp/terraform-provider-google",
            "commit": commit,
            "how": "scripts/provider-rules.py",
        },
        "rules": rules,
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
