//! The Kubernetes rules of egress, and wasmjob's closed default.

use super::*;

fn policy(yaml: &str) -> NetworkPolicySpec {
    let mut spec: NetworkPolicySpec = serde_yaml_ng::from_str(yaml).unwrap();
    spec.normalize().unwrap();
    spec
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    (pairs.iter())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

const TCP: Protocol = Protocol::Tcp;
const UDP: Protocol = Protocol::Udp;

#[test]
fn no_policy_grants_nothing() {
    let grant = Grant::of(&[], &labels(&[("app", "a")]));
    assert!(grant.is_nothing());
    assert!(!grant.allows_address(ip("127.0.0.1"), 80, TCP));
    assert!(!grant.allows_host("localhost", 80, TCP));
}

#[test]
fn a_policy_applies_only_to_the_instances_it_selects_and_only_for_egress() {
    let p = policy(
        "podSelector: {matchLabels: {app: report}}\npolicyTypes: [Egress]\n\
         egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}}]}]",
    );
    let report = Grant::of([&p], &labels(&[("app", "report")]));
    assert!(report.allows_address(ip("10.1.1.1"), 443, TCP));
    assert!(!report.allows_address(ip("192.168.1.1"), 443, TCP));
    let other = Grant::of([&p], &labels(&[("app", "other")]));
    assert!(other.is_nothing());
    // Ingress only: its egress rules do not apply.
    let ingress = policy("policyTypes: [Ingress]\negress: [{to: [{ipBlock: {cidr: 0.0.0.0/0}}]}]");
    assert!(Grant::of([&ingress], &labels(&[])).is_nothing());
}

#[test]
fn the_grants_of_several_policies_add_up() {
    let web = policy("egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}}], ports: [{port: 443}]}]");
    let dns = policy("egress: [{ports: [{port: 53, protocol: UDP}]}]");
    let grant = Grant::of([&web, &dns], &labels(&[]));
    assert!(grant.allows_address(ip("10.0.0.1"), 443, TCP));
    assert!(!grant.allows_address(ip("10.0.0.1"), 80, TCP));
    assert!(grant.allows_address(ip("1.1.1.1"), 53, UDP));
    assert!(!grant.allows_address(ip("1.1.1.1"), 53, TCP));
}

#[test]
fn an_empty_rule_reaches_everything_and_an_empty_egress_nothing() {
    let all = policy("egress: [{}]");
    let grant = Grant::of([&all], &labels(&[]));
    assert!(grant.allows_address(ip("8.8.8.8"), 1, UDP));
    assert!(grant.allows_host("anything.example", 443, TCP));
    let deny = policy("policyTypes: [Egress]");
    assert!(Grant::of([&deny], &labels(&[])).is_nothing());
}

#[test]
fn except_blocks_and_port_ranges_narrow_a_rule() {
    let p = policy(
        "egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.9.0.0/16]}}], \
         ports: [{port: 8000, endPort: 8999}]}]",
    );
    let grant = Grant::of([&p], &labels(&[]));
    assert!(grant.allows_address(ip("10.1.0.1"), 8000, TCP));
    assert!(grant.allows_address(ip("10.1.0.1"), 8999, TCP));
    assert!(!grant.allows_address(ip("10.1.0.1"), 9000, TCP));
    assert!(!grant.allows_address(ip("10.9.0.1"), 8080, TCP));
}

#[test]
fn pod_and_namespace_selectors_grant_nothing_and_sctp_nothing() {
    let p = policy(
        "egress: [{to: [{podSelector: {matchLabels: {app: db}}}]}, \
         {ports: [{port: 9, protocol: SCTP}]}]",
    );
    let grant = Grant::of([&p], &labels(&[]));
    assert!(!grant.allows_address(ip("10.0.0.1"), 5432, TCP));
    assert!(!grant.allows_address(ip("10.0.0.1"), 9, Protocol::Sctp));
}

#[test]
fn host_grants_match_names_wildcards_and_ports() {
    let p = policy("egress: [{to: [{hosts: [api.example.com, '*.example.org:443', LocalHost]}]}]");
    let grant = Grant::of([&p], &labels(&[]));
    assert!(grant.allows_host("api.example.com", 8080, TCP));
    assert!(grant.allows_host("API.example.com.", 443, TCP));
    assert!(grant.allows_host("a.b.example.org", 443, TCP));
    assert!(!grant.allows_host("a.example.org", 80, TCP));
    assert!(!grant.allows_host("example.org", 443, TCP));
    assert!(!grant.allows_host("evilexample.org", 443, TCP));
    assert!(!grant.allows_host("api.example.com.evil", 443, TCP));
    // A host grant is no address grant: the node resolves the exact names.
    assert!(!grant.allows_address(ip("127.0.0.1"), 80, TCP));
    assert_eq!(grant.names_on(80, TCP), ["api.example.com", "localhost"]);
    assert_eq!(grant.names_on(443, TCP), ["api.example.com", "localhost"]);
}

#[test]
fn malformed_hosts_are_refused() {
    for bad in [
        "",
        "*.",
        "a..b",
        "-a.com",
        "a.com:0",
        "a.com:99999",
        "10.0.0.1",
        "a b.com",
    ] {
        assert!(HostPattern::parse(bad).is_err(), "{bad:?}");
    }
}
