//! A synthetic fleet for benchmarks and tests: `count` valid customer profiles that vary in
//! the ways real ones do (autoscaling on or off, labels, env, access), over one layer.
//! Dev-only: included by path into the integration tests, the benchmark and the `fleet`
//! example, never part of the library.

/// The profile folder's files, name → contents, in name order.
pub fn generate(count: usize) -> Vec<(String, String)> {
    let mut files = vec![("_defaults.yaml".to_string(), DEFAULTS.to_string())];
    for i in 0..count {
        let name = format!("customer-{i:05}");
        let scaling = if i % 3 == 0 {
            "    autoscaling:\n      enabled: false\n    replicas: 3\n".to_string()
        } else {
            format!(
                "    autoscaling:\n      minReplicas: {}\n      maxReplicas: {}\n",
                2 + i % 3,
                6 + i % 7
            )
        };
        files.push((
            format!("{name}.yaml"),
            format!(
                "apiVersion: gitopsc/v1alpha1\nkind: CustomerProfile\nmetadata:\n  name: {name}\n  labels:\n    tier: {tier}\n\
                 extends: [_defaults.yaml]\nspec:\n  gcp:\n    projectId: {name}-prod\n    region: us-central1\n    \
                 network: {name}-vpc\n    subnetwork: {name}-gke\n    \
                 logging: {{ notificationChannels: [projects/{name}-prod/notificationChannels/{channel}] }}\n  app:\n{scaling}    env:\n      CUSTOMER_ID: \"{i}\"\n      \
                 LOG_LEVEL: {level}\n  access:\n    internal:\n      enabled: true\n      allowedSourceRanges: [10.{octet}.0.0/16]\n  \
                 database:\n    credentials:\n      existingSecret: {name}-db\n  infrastructure:\n    cluster:\n      \
                 masterIpv4CidrBlock: 172.16.{octet}.0/28\n      \
                 secretsEncryptionKey: projects/{name}-prod/locations/us-central1/keyRings/gke/cryptoKeys/etcd\n",
                tier = ["standard", "enterprise"][i % 2],
                level = ["info", "warn", "debug"][i % 3],
                octet = i % 250,
                channel = 1000 + i,
            ),
        ));
    }
    files
}

const DEFAULTS: &str = "apiVersion: gitopsc/v1alpha1
kind: CustomerProfile
spec:
  app:
    image: us-docker.pkg.dev/vendor-artifacts/apps/api@sha256:9f2c0a8b6d4e1f3a5c7b9d0e2f4a6c8e0b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a
    autoscaling:
      enabled: true
      targetCPUUtilizationPercentage: 70
    resources:
      requests: { cpu: 250m, memory: 256Mi }
      limits: { cpu: \"1\", memory: 512Mi }
    workloadIdentity:
      gcpServiceAccount: fleet-api@vendor-fleet.iam.gserviceaccount.com
    # Up to 12 pods × 4 within the 64 sessions two default Pgpool pods serve (E0327).
    databaseConnectionsPerPod: 4
  database:
    image: us-docker.pkg.dev/vendor-artifacts/db/postgres-patroni@sha256:2b4d6f8a0c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d
    # Within the default 2Gi limit at full use (E0326).
    parameters:
      max_connections: 200
      shared_buffers: 512MB
    pgpool:
      maxPool: 2
      image: us-docker.pkg.dev/vendor-artifacts/db/pgpool@sha256:4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f
  backup:
    snapshots:
      image: us-docker.pkg.dev/vendor-artifacts/ops/snapshot-job@sha256:1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e
  monitoring:
    postgresExporterImage: us-docker.pkg.dev/vendor-artifacts/monitoring/postgres-exporter@sha256:6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c
    pgpoolExporterImage: us-docker.pkg.dev/vendor-artifacts/monitoring/pgpool2-exporter@sha256:8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e
  argocd:
    repoURL: https://github.com/vendor/gitops-fleet.git
";

/// Writes the fleet into `dir` (used by `cargo run --example fleet`).
pub fn write(dir: &std::path::Path, count: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, content) in generate(count) {
        std::fs::write(dir.join(name), content)?;
    }
    Ok(())
}
