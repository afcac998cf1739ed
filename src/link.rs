//! Stage 6: every reference an object makes resolves to an object of the same output or to
//! a declared prerequisite (docs/prerequisites.md).
//!
//! Objects are checked as a system, not one by one: a mounted Secret must be made by
//! something (an object, an `ExternalSecret`, a cert-manager `Certificate`) or be named by
//! the profile; a Service, PDB, NetworkPolicy or PodMonitor must select the pods of a
//! workload and the ports it names must exist there. Labels that a controller sets at run
//! time (Patroni's role label) are declared as such in `RUNTIME_LABELS`.
//!
//! The rules read plain JSON objects, so a test can run them over the committed `out/`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::emit::names::label;
use crate::emit::{credentials, workload};
use crate::model::{Customer, SecretStore, TlsSource};
use crate::prerequisite::{Prerequisite, Section, prerequisite};

/// Labels a controller puts on pods at run time: (the pods' `app.kubernetes.io/name`, key,
/// values). Patroni labels the leader and the standbys.
pub const RUNTIME_LABELS: &[(&str, &str, &[&str])] = &[(
    workload::POSTGRES,
    label::ROLE,
    &[label::LEADER, label::REPLICA],
)];

/// Environment variables whose value names an object a script of the pod uses.
pub const ENV_REFERENCES: &[(&str, &str)] = &[(
    crate::emit::backup::SNAPSHOT_CLASS_ENV,
    "VolumeSnapshotClass",
)];

/// The add-on behind each API group the output uses.
const ADD_ONS: &[(&str, &str, &str)] = &[
    (
        "external-secrets.io",
        "external-secrets",
        "External Secrets Operator serving external-secrets.io/v1, with GCP Workload Identity",
    ),
    (
        "cert-manager.io",
        "cert-manager",
        "cert-manager issues and renews the database certificate",
    ),
    (
        "monitoring.coreos.com",
        "prometheus-operator",
        "Prometheus Operator CRDs and a Prometheus in namespace `monitoring` whose `podMonitorSelector` and `ruleSelector` match `monitoring.selectorLabels` and that selects this namespace",
    ),
    (
        "monitoring.googleapis.com",
        "gke-managed-prometheus",
        "Google Cloud Managed Service for Prometheus (managed collection on the cluster)",
    ),
    (
        "snapshot.storage.k8s.io",
        "volume-snapshots",
        "the snapshot CRDs and controller with the Compute Engine PD CSI driver (GKE: `GcePersistentDiskCsiDriver` add-on)",
    ),
    (
        "cloud.google.com",
        "gke-ingress",
        "GKE Ingress controller (BackendConfig, FrontendConfig, ManagedCertificate), built into GKE with HTTP load balancing on",
    ),
    (
        "networking.gke.io",
        "gke-ingress",
        "GKE Ingress controller (BackendConfig, FrontendConfig, ManagedCertificate), built into GKE with HTTP load balancing on",
    ),
];

/// Everything a customer's output needs but does not create, from the profile and the API
/// groups of the emitted objects.
pub fn prerequisites(customer: &Customer, objects: &[(String, &Value)]) -> Vec<Prerequisite> {
    let mut out = BTreeSet::new();
    let mut groups: BTreeSet<&str> = objects
        .iter()
        .filter_map(|(_, o)| o["apiVersion"].as_str()?.rsplit_once('/').map(|(g, _)| g))
        .collect();
    // A claim restored from a VolumeSnapshot needs the snapshot machinery even when no
    // snapshot object of ours is compiled (snapshots off during a restore).
    if customer.database.restore_from_snapshot.is_some() {
        groups.insert("snapshot.storage.k8s.io");
    }
    for (group, name, why) in ADD_ONS {
        if groups.contains(group) {
            out.insert(prerequisite(Section::AddOn, "add-on", name, (*why).into()));
        }
    }
    database_prerequisites(customer, &mut out);
    entry_and_identity_prerequisites(customer, &mut out);
    shared_vpc_prerequisites(customer, &mut out);
    for extension in crate::emit::EXTENSIONS {
        out.extend((extension.prerequisites)(customer));
    }
    out.into_iter().collect()
}

/// The database's credentials, certificate, volumes and restore source.
fn database_prerequisites(customer: &Customer, out: &mut BTreeSet<Prerequisite>) {
    let database = &customer.database;
    credentials_prerequisites(customer, out);
    match (&database.tls_source, &database.tls_secret) {
        (Some(TlsSource::Existing), Some(secret)) => {
            out.insert(prerequisite(
                Section::Object,
                "Secret",
                secret,
                "the database's `kubernetes.io/tls` certificate (`spec.database.tlsSecretName`), with `ca.crt` for the app to verify it".into(),
            ));
        }
        (Some(TlsSource::ClusterIssuer(issuer)), _) => {
            out.insert(prerequisite(
                Section::Object,
                "ClusterIssuer",
                issuer,
                "signs the database certificate (`spec.database.tlsClusterIssuer`) and puts `ca.crt` in its Secret".into(),
            ));
        }
        _ => {}
    }
    let storage_why =
        "the database volumes' StorageClass (`spec.database.storage.storageClassName`)";
    out.insert(match &database.storage_class {
        Some(class) => prerequisite(Section::Object, "StorageClass", class, storage_why.into()),
        None => prerequisite(
            Section::Object,
            "StorageClass",
            "(the cluster's default)",
            format!("{storage_why}; none is named, so the default class is used"),
        ),
    });
    if let Some(snapshot) = &database.restore_from_snapshot {
        out.insert(prerequisite(
            Section::Object,
            "VolumeSnapshot",
            snapshot,
            "the snapshot the first member is restored from (`spec.database.restoreFromSnapshot`)"
                .into(),
        ));
    }
}

/// Where the passwords come from: an existing Secret, or a Secret Manager secret with the
/// store that reads it.
fn credentials_prerequisites(customer: &Customer, out: &mut BTreeSet<Prerequisite>) {
    let database = &customer.database;
    let keys = credentials::secret_key::ALL.join(", ");
    if let crate::model::Credentials::Existing(secret) = &database.credentials {
        out.insert(prerequisite(
            Section::Object,
            "Secret",
            secret,
            format!(
                "the database credentials (`spec.database.credentials.existingSecret`), with keys {keys}"
            ),
        ));
    }
    let Some(source) = database.credentials.external() else {
        return;
    };
    match &source.store {
        SecretStore::Cluster(name) => {
            out.insert(prerequisite(
                Section::Object,
                "ClusterSecretStore",
                name,
                "GCP Secret Manager store the credentials ExternalSecret reads".into(),
            ));
            out.insert(prerequisite(
                Section::Gcp,
                "Secret Manager secret",
                &source.key,
                format!("in the store's project, a JSON object with the keys {keys}"),
            ));
        }
        // The Terraform creates the secret, without a value, and who may read it.
        SecretStore::Compiled { .. } => {
            out.insert(prerequisite(
                Section::Gcp,
                "Secret Manager secret value",
                &source.key,
                format!(
                    "a version of the secret `terraform/secrets.tf.json` creates in project `{}`: a JSON object with the keys {keys}",
                    customer.cluster.project_id
                ),
            ));
        }
    }
}

/// The external entry point's GCP objects and the app's Workload Identity binding.
fn entry_and_identity_prerequisites(customer: &Customer, out: &mut BTreeSet<Prerequisite>) {
    if let Some(external) = &customer.access.external {
        if let crate::model::Tls::Secret(secret) = &external.tls {
            out.insert(prerequisite(
                Section::Object,
                "Secret",
                secret,
                "the external entry's TLS certificate (`spec.access.external.tlsSecretName`)"
                    .into(),
            ));
        }
        // The Cloud Armor policy, the global address and the SSL policy are created by
        // `terraform/edge.tf.json`.
    }
    // The app's and the archive's GSAs and their Workload Identity bindings are created by
    // `terraform/`; the DNS that takes their calls to Google APIs is the VPC's.
    // A network gitopsc creates gets the zone from `terraform/network.tf.json`.
    let created = customer
        .profile
        .spec
        .as_ref()
        .and_then(|s| s.gcp.as_ref())
        .is_some_and(|g| g.create_network.is_some());
    if (customer.app.gcp_service_account.is_some() || customer.archive.is_some()) && !created {
        out.insert(prerequisite(
            Section::Gcp,
            "Private Google Access DNS",
            "*.googleapis.com",
            format!(
                "resolves to {} in the VPC, the only Google API range the egress of pods with Workload Identity allows",
                crate::emit::network::google_apis_range(customer.google_apis)
            ),
        ));
    }
}

/// A Shared VPC's grants in its host project, which only the host's admin can give (GKE's
/// "Setting up clusters with Shared VPC"); the Terraform reads the network there and
/// creates the customer's firewall rules there.
fn shared_vpc_prerequisites(customer: &Customer, out: &mut BTreeSet<Prerequisite>) {
    let gcp = customer.profile.spec.as_ref().and_then(|s| s.gcp.as_ref());
    let Some(gcp) = gcp else {
        return;
    };
    let project = customer.cluster.project_id.as_str();
    let (Some(host), Some(subnetwork)) = (&gcp.network_project_id, &gcp.subnetwork) else {
        return;
    };
    if host.0 == project {
        return;
    }
    let gke =
        format!("service-<number of {project}>@container-engine-robot.iam.gserviceaccount.com");
    let apis = format!("<number of {project}>@cloudservices.gserviceaccount.com");
    let subnet = format!("subnetwork {subnetwork} of {host}");
    for (kind, name, why) in [
        (
            "Shared VPC",
            format!("{project} attached to {host}"),
            format!(
                "`gcloud compute shared-vpc associated-projects add {project} --host-project {host}`; {subnet} has Private Google Access and the secondary ranges `gcp.secondaryRanges` names (the plan checks both)"
            ),
        ),
        (
            "IAM grant (host project)",
            format!("roles/compute.networkUser on {subnet}"),
            format!(
                "to `{gke}` and `{apis}`: GKE's service agent and the Google APIs service agent create the nodes and load balancers in it"
            ),
        ),
        (
            "IAM grant (host project)",
            format!("roles/container.hostServiceAgentUser on {host}"),
            format!("to `{gke}`: GKE manages the cluster's network resources in the host project"),
        ),
        (
            "IAM grant (host project)",
            format!("roles/compute.securityAdmin on {host}"),
            format!(
                "to `{gke}`, which creates the cluster's own firewall rules there (control plane to nodes), and to the identity that applies `terraform/`, which creates the health-check and internal-client rules of `terraform/edge.tf.json` there and reads the network (GKE's Ingress controller cannot: ingress-gce reports `FirewallXPNError`)"
            ),
        ),
    ] {
        out.insert(prerequisite(Section::Gcp, kind, &name, why));
    }
}

/// `PREREQUISITES.md`: the checklist for bringing the customer up.
pub fn prerequisites_markdown(customer: &Customer, prerequisites: &[Prerequisite]) -> String {
    let mut text = format!(
        "# Prerequisites of `{}`\n\n\
         Written by gitopsc; do not edit. Everything below must exist before Argo CD syncs\n\
         this folder into namespace `{}`: the output references it but does not create it.\n\
         Everything else it references, it creates, the GCP resources in `terraform/`\n\
         included. docs/bring-up.md is the order to bring the customer up in.\n",
        customer.name, customer.namespace
    );
    let mut section = None;
    for p in prerequisites {
        if section != Some(p.section) {
            section = Some(p.section);
            text.push_str(&format!(
                "\n## {}\n\n| kind | name | why |\n|---|---|---|\n",
                p.section.title()
            ));
        }
        text.push_str(&format!(
            "| {} | `{}` | {} |\n",
            p.kind,
            p.name,
            p.why.replace('|', "\\|")
        ));
    }
    text
}

/// A reference that nothing resolves.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unresolved {
    /// The output file that makes the reference.
    pub from: String,
    /// What the reference is, e.g. "mounts Secret `x`".
    pub what: String,
}

impl std::fmt::Display for Unresolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` {}", self.from, self.what)
    }
}

/// A workload's pod template: where it is, its labels and its named container ports.
struct Pods<'a> {
    from: &'a str,
    labels: BTreeMap<String, String>,
    ports: BTreeSet<String>,
    numbers: BTreeSet<i64>,
}

fn pod_template(object: &Value) -> Option<&Value> {
    match object["kind"].as_str()? {
        "Deployment" | "StatefulSet" => Some(&object["spec"]["template"]),
        "CronJob" => Some(&object["spec"]["jobTemplate"]["spec"]["template"]),
        _ => None,
    }
}

fn strings(map: &Value) -> BTreeMap<String, String> {
    map.as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}

fn items(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_array().into_iter().flatten()
}

/// Whether `selector` (matchLabels) selects the pods: every label equal, or one that a
/// controller sets at run time to one of its declared values.
fn selects(selector: &BTreeMap<String, String>, pods: &Pods<'_>) -> bool {
    let name = pods
        .labels
        .get("app.kubernetes.io/name")
        .map(String::as_str);
    selector.iter().all(|(key, value)| {
        pods.labels.get(key) == Some(value)
            || RUNTIME_LABELS.iter().any(|(workload, label, values)| {
                Some(*workload) == name && label == key && values.contains(&value.as_str())
            })
    })
}

/// Every reference of every object that resolves to neither an object of `objects` nor a
/// prerequisite. `objects` are (output path, object) pairs.
pub fn check(objects: &[(String, &Value)], prerequisites: &[Prerequisite]) -> Vec<Unresolved> {
    let mut links = Links {
        exists: existing(objects, prerequisites),
        problems: BTreeSet::new(),
    };
    let workloads: Vec<Pods<'_>> = objects
        .iter()
        .filter_map(|(from, o)| workload(&mut links, from, o))
        .collect();
    for (from, o) in objects {
        selections(&mut links, &workloads, from, o);
        references(&mut links, objects, from, o);
    }
    links.problems.into_iter().collect()
}

/// What exists, and the references found so far that nothing resolves.
struct Links {
    exists: BTreeSet<(String, String)>,
    problems: BTreeSet<Unresolved>,
}

impl Links {
    fn problem(&mut self, from: &str, what: String) {
        self.problems.insert(Unresolved {
            from: from.into(),
            what,
        });
    }

    /// `from` refers to the `kind` named `name` (when it names one), which must exist.
    fn need(&mut self, from: &str, kind: &str, name: Option<&str>, how: &str) {
        let Some(name) = name else { return };
        if !self.exists.contains(&(kind.to_string(), name.to_string())) {
            self.problem(
                from,
                format!(
                    "{how} {kind} `{name}`, which no object of the output creates and no prerequisite declares"
                ),
            );
        }
    }

    /// A selector that must pick some pods, and the named ports it must find there.
    fn select(
        &mut self,
        workloads: &[Pods<'_>],
        from: &str,
        selector: &Value,
        ports: Vec<String>,
        what: &str,
    ) {
        let selector = strings(selector);
        let chosen: Vec<&Pods<'_>> = workloads.iter().filter(|p| selects(&selector, p)).collect();
        if chosen.is_empty() {
            self.problem(
                from,
                format!(
                    "{what} pods labelled {selector:?}, and no workload of the output has such pods"
                ),
            );
        }
        for port in ports {
            if let Some(pods) = chosen.iter().find(|p| {
                !p.ports.contains(&port) && !port.parse().is_ok_and(|n| p.numbers.contains(&n))
            }) {
                self.problem(
                    from,
                    format!(
                        "{what} port `{port}`, which the pods of `{}` do not have",
                        pods.from
                    ),
                );
            }
        }
    }
}

/// Each object, the Secrets that controllers make, the claims of StatefulSets, and the
/// prerequisites.
fn existing(
    objects: &[(String, &Value)],
    prerequisites: &[Prerequisite],
) -> BTreeSet<(String, String)> {
    // What exists: each object, the Secrets that controllers make, the prerequisites.
    let mut exists: BTreeSet<(String, String)> = BTreeSet::new();
    for (_, o) in objects {
        let kind = o["kind"].as_str().unwrap_or_default();
        let name = o["metadata"]["name"].as_str().unwrap_or_default();
        exists.insert((kind.into(), name.into()));
        let made = match kind {
            "ExternalSecret" => o["spec"]["target"]["name"].as_str(),
            "Certificate" => o["spec"]["secretName"].as_str(),
            _ => None,
        };
        if let Some(secret) = made {
            exists.insert(("Secret".into(), secret.into()));
        }
        for claim in items(&o["spec"]["volumeClaimTemplates"]) {
            if let Some(claim) = claim["metadata"]["name"].as_str() {
                exists.insert(("volumeClaimTemplate".into(), claim.into()));
            }
        }
    }
    for p in prerequisites
        .iter()
        .filter(|p| p.section == Section::Object)
    {
        exists.insert((p.kind.clone(), p.name.clone()));
    }
    exists
}

/// The references a workload's pod template makes (its account, volumes, variables,
/// probes), and its pods for the selectors.
fn workload<'a>(links: &mut Links, from: &'a str, o: &Value) -> Option<Pods<'a>> {
    let template = pod_template(o)?;
    let spec = &template["spec"];
    links.need(
        from,
        "ServiceAccount",
        spec["serviceAccountName"].as_str(),
        "runs as",
    );
    let volumes = volume_references(links, from, spec, o);
    let (ports, numbers) = container_references(links, from, spec, &volumes);
    // A probe on a named port needs that port on the pod.
    for container in items(&spec["containers"]) {
        for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
            for action in ["httpGet", "tcpSocket"] {
                if let Some(port) = container[probe][action]["port"].as_str() {
                    if !ports.contains(port) {
                        links.need(from, "container port", Some(port), "probes");
                    }
                }
            }
        }
    }
    Some(Pods {
        from,
        labels: strings(&template["metadata"]["labels"]),
        ports,
        numbers,
    })
}

/// The volumes a pod template mounts and the claims a StatefulSet makes, each of which must
/// exist; returns the volume names its containers may mount.
fn volume_references(links: &mut Links, from: &str, spec: &Value, o: &Value) -> BTreeSet<String> {
    let mut volumes = BTreeSet::new();
    for volume in items(&spec["volumes"]) {
        volumes.insert(volume["name"].as_str().unwrap_or_default().to_string());
        links.need(
            from,
            "ConfigMap",
            volume["configMap"]["name"].as_str(),
            "mounts",
        );
        links.need(
            from,
            "Secret",
            volume["secret"]["secretName"].as_str(),
            "mounts",
        );
        let claim = volume["persistentVolumeClaim"]["claimName"].as_str();
        links.need(from, "PersistentVolumeClaim", claim, "mounts");
        for source in items(&volume["projected"]["sources"]) {
            links.need(from, "Secret", source["secret"]["name"].as_str(), "mounts");
            links.need(
                from,
                "ConfigMap",
                source["configMap"]["name"].as_str(),
                "mounts",
            );
        }
    }
    for claim in items(&o["spec"]["volumeClaimTemplates"]) {
        volumes.insert(
            claim["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .into(),
        );
        links.need(
            from,
            "StorageClass",
            claim["spec"]["storageClassName"].as_str(),
            "claims volumes of",
        );
    }
    if o["kind"] == "StatefulSet" {
        links.need(
            from,
            "Service",
            o["spec"]["serviceName"].as_str(),
            "is governed by",
        );
    }
    volumes
}

/// What the containers name: mounted volumes, variables from Secrets, ConfigMaps and
/// objects; returns the pod's port names and numbers.
fn container_references(
    links: &mut Links,
    from: &str,
    spec: &Value,
    volumes: &BTreeSet<String>,
) -> (BTreeSet<String>, BTreeSet<i64>) {
    let mut ports = BTreeSet::new();
    let mut numbers = BTreeSet::new();
    let containers = items(&spec["initContainers"]).chain(items(&spec["containers"]));
    for container in containers {
        for port in items(&container["ports"]) {
            ports.extend(port["name"].as_str().map(String::from));
            numbers.extend(port["containerPort"].as_i64());
        }
        for mount in items(&container["volumeMounts"]) {
            let name = mount["name"].as_str().unwrap_or_default();
            if !volumes.contains(name) {
                links.need(from, "volume", Some(name), "mounts");
            }
        }
        for env in items(&container["env"]) {
            for (variable, kind) in ENV_REFERENCES {
                if env["name"] == *variable {
                    links.need(
                        from,
                        kind,
                        env["value"].as_str(),
                        "names in its environment",
                    );
                }
            }
            for (source, kind) in [("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")] {
                let name = env["valueFrom"][source]["name"].as_str();
                links.need(from, kind, name, "reads a variable from");
            }
        }
        for source in items(&container["envFrom"]) {
            for (reference, kind) in [("configMapRef", "ConfigMap"), ("secretRef", "Secret")] {
                let name = source[reference]["name"].as_str();
                links.need(from, kind, name, "reads variables from");
            }
        }
    }
    (ports, numbers)
}

/// The pods a Service, PDB, NetworkPolicy or monitor selects, with the ports it names.
fn selections(links: &mut Links, workloads: &[Pods<'_>], from: &str, o: &Value) {
    let kind = o["kind"].as_str().unwrap_or_default();
    let spec = &o["spec"];
    match kind {
        "Service" => {
            if let Some(selector) = spec.get("selector") {
                let ports = items(&spec["ports"])
                    .filter_map(|p| match &p["targetPort"] {
                        Value::String(name) => Some(name.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    })
                    .collect();
                links.select(workloads, from, selector, ports, "sends traffic to");
            }
        }
        "PodDisruptionBudget" => links.select(
            workloads,
            from,
            &spec["selector"]["matchLabels"],
            vec![],
            "protects",
        ),
        "NetworkPolicy" => {
            if spec["podSelector"]["matchLabels"].is_object() {
                links.select(
                    workloads,
                    from,
                    &spec["podSelector"]["matchLabels"],
                    vec![],
                    "applies to",
                );
            }
            let rules = items(&spec["ingress"])
                .flat_map(|r| items(&r["from"]))
                .chain(items(&spec["egress"]).flat_map(|r| items(&r["to"])));
            for peer in rules {
                if peer.get("namespaceSelector").is_none()
                    && peer["podSelector"]["matchLabels"].is_object()
                {
                    links.select(
                        workloads,
                        from,
                        &peer["podSelector"]["matchLabels"],
                        vec![],
                        "allows traffic with",
                    );
                }
            }
        }
        "PodMonitor" | "PodMonitoring" => {
            let endpoints = match kind {
                "PodMonitor" => &spec["podMetricsEndpoints"],
                _ => &spec["endpoints"],
            };
            let ports = items(endpoints)
                .filter_map(|e| e["port"].as_str().map(String::from))
                .collect();
            links.select(
                workloads,
                from,
                &spec["selector"]["matchLabels"],
                ports,
                "scrapes",
            );
        }
        _ => {}
    }
}

/// The objects an object names by kind and name.
fn references(links: &mut Links, objects: &[(String, &Value)], from: &str, o: &Value) {
    let kind = o["kind"].as_str().unwrap_or_default();
    let spec = &o["spec"];
    let annotations = &o["metadata"]["annotations"];
    match kind {
        "HorizontalPodAutoscaler" => links.need(
            from,
            spec["scaleTargetRef"]["kind"].as_str().unwrap_or_default(),
            spec["scaleTargetRef"]["name"].as_str(),
            "scales",
        ),
        "RoleBinding" | "ClusterRoleBinding" => {
            let role = o["roleRef"]["kind"].as_str().unwrap_or("Role");
            links.need(from, role, o["roleRef"]["name"].as_str(), "grants");
            for subject in items(&o["subjects"]) {
                if subject["kind"] == "ServiceAccount" {
                    links.need(from, "ServiceAccount", subject["name"].as_str(), "binds");
                }
            }
        }
        "ExternalSecret" => links.need(
            from,
            spec["secretStoreRef"]["kind"]
                .as_str()
                .unwrap_or("SecretStore"),
            spec["secretStoreRef"]["name"].as_str(),
            "reads from",
        ),
        "SecretStore" => links.need(
            from,
            "ServiceAccount",
            spec["provider"]["gcpsm"]["auth"]["workloadIdentity"]["serviceAccountRef"]["name"]
                .as_str(),
            "logs in as",
        ),
        "Certificate" => links.need(
            from,
            spec["issuerRef"]["kind"].as_str().unwrap_or("Issuer"),
            spec["issuerRef"]["name"].as_str(),
            "is signed by",
        ),
        "Issuer" => links.need(
            from,
            "Secret",
            spec["ca"]["secretName"].as_str(),
            "signs with",
        ),
        "PersistentVolumeClaim" => {
            links.need(
                from,
                "StorageClass",
                spec["storageClassName"].as_str(),
                "claims a volume of",
            );
            links.need(
                from,
                "VolumeSnapshot",
                spec["dataSource"]["name"].as_str(),
                "is restored from",
            );
        }
        "Ingress" => ingress_references(links, objects, from, o),
        _ => {}
    }
    if let Some(text) = annotations["cloud.google.com/backend-config"].as_str() {
        let config: Value = serde_json::from_str(text).unwrap_or_default();
        let names = config["default"].as_str().into_iter().chain(
            config["ports"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(_, v)| v.as_str()),
        );
        for name in names {
            links.need(from, "BackendConfig", Some(name), "is configured by");
        }
    }
}

/// An Ingress names its backends' Services and ports, its certificates and its
/// FrontendConfig.
fn ingress_references(links: &mut Links, objects: &[(String, &Value)], from: &str, o: &Value) {
    let spec = &o["spec"];
    let annotations = &o["metadata"]["annotations"];
    let backends = std::iter::once(&spec["defaultBackend"]).chain(
        items(&spec["rules"])
            .flat_map(|r| items(&r["http"]["paths"]))
            .map(|p| &p["backend"]),
    );
    for backend in backends {
        let service = &backend["service"];
        let Some(name) = service["name"].as_str() else {
            continue;
        };
        links.need(from, "Service", Some(name), "routes to");
        let port = &service["port"];
        let has_port = objects.iter().any(|(_, s)| {
            s["kind"] == "Service"
                && s["metadata"]["name"] == name
                && items(&s["spec"]["ports"]).any(|p| {
                    (port["number"].is_number() && p["port"] == port["number"])
                        || (port["name"].is_string() && p["name"] == port["name"])
                })
        });
        if !has_port {
            links.problem(
                from,
                format!("routes to port {port} of Service `{name}`, which it does not have"),
            );
        }
    }
    for tls in items(&spec["tls"]) {
        links.need(
            from,
            "Secret",
            tls["secretName"].as_str(),
            "serves the certificate of",
        );
    }
    links.need(
        from,
        "FrontendConfig",
        annotations["networking.gke.io/v1beta1.FrontendConfig"].as_str(),
        "is configured by",
    );
    for certificate in annotations["networking.gke.io/managed-certificates"]
        .as_str()
        .into_iter()
        .flat_map(|s| s.split(','))
    {
        links.need(
            from,
            "ManagedCertificate",
            Some(certificate.trim()),
            "serves",
        );
    }
}
