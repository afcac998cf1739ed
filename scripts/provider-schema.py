#!/usr/bin/env python3
"""Extract the part of the hashicorp/google provider schema that gitopsc emits.

No `terraform init` is possible offline, so the schema comes from the PyPI package
`cdktn-provider-google` (CDK Terrain's prebuilt bindings, the successor of the archived
`@cdktf/provider-google`), whose `.jsii` manifest describes every resource and data source
of the provider it was generated from (21.1.0 carries provider 8.7.0, its README and the
Registry links in the manifest say so). Usage:

    scripts/provider-schema.py [PATH/TO/.jsii] > schema/google-provider.json

Without a path it runs `pip download cdktn-provider-google==21.1.0` into a temporary
folder and reads the manifest from the wheel.
Names: jsii property names are camelCase and a naive conversion is wrong for a few
(`enableK8SBetaApis` is `enable_k8s_beta_apis`), so each name is taken from the Terraform
Registry link in its docs, which carries the real snake_case name.
"""

import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

DISTRIBUTION = "cdktn-provider-google"
VERSION = "21.1.0"
PREFIX = "@cdktn/provider-google."

# What gitopsc's Terraform uses: (kind, Terraform type).
TYPES = [
    ("provider", "google"),
    ("resource", "google_container_cluster"),
    ("resource", "google_container_node_pool"),
    ("resource", "google_service_account"),
    ("resource", "google_project_iam_member"),
    ("resource", "google_service_account_iam_member"),
    ("resource", "google_compute_security_policy"),
    ("resource", "google_compute_global_address"),
    ("resource", "google_compute_ssl_policy"),
    ("resource", "google_compute_firewall"),
    ("resource", "google_secret_manager_secret"),
    ("resource", "google_secret_manager_secret_iam_member"),
    ("resource", "google_compute_network"),
    ("resource", "google_compute_subnetwork"),
    ("resource", "google_compute_router"),
    ("resource", "google_compute_router_nat"),
    ("resource", "google_compute_address"),
    ("resource", "google_dns_record_set"),
    ("data", "google_dns_managed_zone"),
    ("data", "google_project"),
    ("resource", "google_kms_crypto_key_iam_member"),
    ("data", "google_compute_network"),
    ("data", "google_compute_subnetwork"),
    ("resource", "google_storage_bucket"),
    ("resource", "google_project_iam_audit_config"),
    ("resource", "google_storage_bucket_iam_member"),
    ("resource", "google_project_service"),
    ("resource", "google_binary_authorization_policy"),
    ("resource", "google_dns_managed_zone"),
    ("resource", "google_logging_project_sink"),
    ("resource", "google_logging_metric"),
    ("resource", "google_monitoring_alert_policy"),
]


def camel(words):
    return words[0] + "".join(w.capitalize() for w in words[1:])


def config_type(types, kind, tf_type):
    words = tf_type.split("_")
    if kind == "provider":
        return types[PREFIX + "provider.GoogleProviderConfig"]
    if kind == "data":
        words = ["data"] + words
    else:
        words = words[1:]
    module = camel(words)
    name = module[0].upper() + module[1:]
    return types[f"{PREFIX}{module}.{name}Config"]


def class_type(types, kind, tf_type):
    config = config_type(types, kind, tf_type)
    return types.get(config["fqn"][: -len("Config")])


def snake(prop):
    """The Terraform name of a jsii property, from its Registry link when it has one."""
    docs = prop.get("docs", {})
    text = docs.get("remarks", "") + " " + docs.get("summary", "")
    match = re.search(r"#([a-z0-9_]+) [A-Za-z0-9]+#", text)
    if match:
        return match.group(1)
    name = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", prop["name"]).lower()
    return name


def describe(types, ref):
    """`(nesting, struct)` of a property type: a block (single or list) or an argument."""
    if "union" in ref:
        kinds = [t for t in ref["union"]["types"] if t.get("fqn") not in ("cdktf.IResolvable", "cdktn.IResolvable")]
        if len(kinds) == 1:
            return describe(types, kinds[0])
        return ("argument", "dynamic")
    if "primitive" in ref:
        kind = {"boolean": "bool"}.get(ref["primitive"], ref["primitive"])
        return ("argument", kind)
    if "collection" in ref:
        element = ref["collection"]["elementtype"]
        nesting, inner = describe(types, element)
        kind = ref["collection"]["kind"]
        if nesting == "argument":
            return ("argument", f"{'list' if kind == 'array' else 'map'}({inner})")
        return ("list", inner)
    fqn = ref["fqn"]
    target = types.get(fqn)
    if target is not None and target.get("datatype"):
        return ("single", fqn)
    return ("argument", "dynamic")


def struct(types, fqn, skip):
    out = {"arguments": {}, "blocks": {}}
    for prop in types[fqn].get("properties", []):
        if prop["name"] in skip:
            continue
        name = snake(prop)
        nesting, inner = describe(types, prop["type"])
        required = not prop.get("optional", False)
        if nesting == "argument":
            out["arguments"][name] = {"type": inner, "required": required}
        else:
            block = struct(types, inner, set())
            block["nesting"] = nesting
            block["required"] = required
            out["blocks"][name] = block
    return out


# Properties every cdktf construct has that are Terraform meta-arguments, not schema.
META = {"connection", "count", "dependsOn", "forEach", "lifecycle", "provider", "provisioners"}


def main():
    if len(sys.argv) > 1:
        manifest = Path(sys.argv[1])
        folder = None
    else:
        folder = tempfile.TemporaryDirectory()
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             f"{DISTRIBUTION}=={VERSION}", "--dest", folder.name],
            check=True,
        )
        wheel = next(Path(folder.name).glob("*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            inner = next(n for n in archive.namelist() if n.endswith(".jsii.tgz"))
            archive.extract(inner, folder.name)
        with tarfile.open(Path(folder.name) / inner) as archive:
            archive.extract("package/.jsii", folder.name, filter="data")
        manifest = Path(folder.name) / "package/.jsii"
    jsii = json.loads(manifest.read_text())
    types = jsii["types"]
    provider_version = re.search(r"hashicorp/google/([0-9.]+)/", json.dumps(jsii["types"][PREFIX + "provider.GoogleProviderConfig"]))
    out = {
        "provenance": {
            "package": f"{jsii['name']}@{jsii['version']} (PyPI {DISTRIBUTION}=={VERSION})",
            "provider": f"hashicorp/google {provider_version.group(1) if provider_version else '?'}",
            "how": "scripts/provider-schema.py: the Config types of the package's .jsii manifest",
        },
        "provider": {},
        "resource": {},
        "data": {},
    }
    for kind, tf_type in TYPES:
        config = config_type(types, kind, tf_type)
        schema = struct(types, config["fqn"], META)
        cls = class_type(types, kind, tf_type)
        if cls is not None and kind != "provider":
            attributes = set(schema["arguments"]) | set(schema["blocks"]) | {"id"}
            for prop in cls.get("properties", []):
                name = prop["name"]
                if name.endswith("Input") or name.startswith("tf") or prop.get("static"):
                    continue
                attributes.add(snake(prop) if "docs" in prop and "#" in json.dumps(prop["docs"]) else re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower().replace("k8_s", "k8s"))
            schema["attributes"] = sorted(attributes)
        out[kind][tf_type] = schema
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    if folder is not None:
        folder.cleanup()


if __name__ == "__main__":
    main()
