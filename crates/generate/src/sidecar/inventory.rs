//! The EC2 inventory as the AWS CLI prints it at the end of the range: `aws ec2
//! describe-instances` ([`INSTANCES_PATH`]) and `aws ec2 describe-volumes` ([`VOLUMES_PATH`]),
//! with the real response shapes and key names, pretty-printed with four spaces as the CLI does.
//!
//! One file covers the whole organisation (as a script looping the CLI over accounts and regions
//! and merging the lists would produce); `OwnerId` names the account and `Placement` the zone.
//! An instance is `running`, `stopped` (an office-hours instance outside its hours when the range
//! ends; the range ends at midnight UTC, so every one of them) or `terminated` (its life ended
//! during the range; AWS lists those for a while, with no volumes). Volumes whose life ended are
//! deleted and not listed; an unattached volume is `available` with no attachments. `Tags` is the
//! resource's raw tags, drift and all, and absent when it has none, as in AWS's own output.
//! Instances launched before the range get a launch time up to a year and a bit before it.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::{create, finish, in_office_hours};
use crate::error::GenerateError;
use crate::estate::{Estate, HOUR_MS, Resource, ResourceKind};
use crate::rng::{fnv, hash4, mix};

/// `aws ec2 describe-instances` output, inside the output folder.
pub const INSTANCES_PATH: &str = "inventory/describe-instances.json";
/// `aws ec2 describe-volumes` output, inside the output folder.
pub const VOLUMES_PATH: &str = "inventory/describe-volumes.json";

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Tag<'a> {
    key: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct State {
    code: u32,
    name: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Placement {
    availability_zone: &'static str,
    group_name: &'static str,
    tenancy: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EbsMapping<'a> {
    attach_time: String,
    delete_on_termination: bool,
    status: &'static str,
    volume_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct BlockDeviceMapping<'a> {
    device_name: &'static str,
    ebs: EbsMapping<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Monitoring {
    state: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Instance<'a> {
    ami_launch_index: u32,
    image_id: String,
    instance_id: &'a str,
    instance_type: &'static str,
    launch_time: String,
    monitoring: Monitoring,
    placement: Placement,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_ip_address: Option<String>,
    state: State,
    state_transition_reason: String,
    architecture: &'static str,
    block_device_mappings: Vec<BlockDeviceMapping<'a>>,
    ebs_optimized: bool,
    hypervisor: &'static str,
    root_device_name: &'static str,
    root_device_type: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<Tag<'a>>,
    virtualization_type: &'static str,
    platform_details: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Reservation<'a> {
    groups: [(); 0],
    instances: Vec<Instance<'a>>,
    owner_id: &'a str,
    reservation_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct VolumeAttachment<'a> {
    attach_time: String,
    device: &'static str,
    instance_id: &'a str,
    state: &'static str,
    volume_id: &'a str,
    delete_on_termination: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Volume<'a> {
    attachments: Vec<VolumeAttachment<'a>>,
    availability_zone: &'static str,
    create_time: String,
    encrypted: bool,
    size: u64,
    snapshot_id: &'static str,
    state: &'static str,
    volume_id: &'a str,
    iops: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<Tag<'a>>,
    volume_type: &'static str,
    multi_attach_enabled: bool,
    throughput: u32,
}

/// How an instance stands when the range ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    /// Running.
    Running,
    /// Stopped by its office-hours schedule.
    Stopped,
    /// Its life ended during the range.
    Terminated,
}

impl InstanceState {
    /// EC2's state code and name.
    pub fn code_name(self) -> (u32, &'static str) {
        match self {
            Self::Running => (16, "running"),
            Self::Stopped => (80, "stopped"),
            Self::Terminated => (48, "terminated"),
        }
    }
}

/// The state of instance `res` at the end of the range.
pub fn instance_state(e: &Estate, res: &Resource) -> InstanceState {
    if res.end_hour < e.hours || res.start_hour >= res.end_hour {
        InstanceState::Terminated
    } else if res.office_hours_at(e.hours) && !in_office_hours(e, e.hours) {
        InstanceState::Stopped
    } else {
        InstanceState::Running
    }
}

/// CLI-style time: ISO 8601 with an explicit `+00:00`, as botocore prints datetimes.
fn cli_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("estate times are in range")
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string()
}

/// When resource `r` was created: its start hour, or for one there from the start a time up to
/// 400 days before the range (resources do not all appear the day a bill starts).
pub fn created_ms(e: &Estate, r: usize) -> i64 {
    let res = &e.resources[r];
    if res.start_hour > 0 {
        return e.hour_ms(res.start_hour);
    }
    let h = hash4(mix(e.options.seed, 0x1A0C), r as u64, 0, 0);
    let hours_before = 1 + (h % (400 * 24)) as i64;
    // Minutes and seconds, so launch times do not all sit on the hour.
    let seconds = ((h >> 32) % 3600) as i64;
    e.start_ms - hours_before * HOUR_MS + seconds * 1000
}

fn hex(e: &Estate, a: u64, b: u64, len: usize) -> String {
    let s = format!("{:016x}{:016x}", hash4(e.options.seed, 0x1D, a, b), hash4(e.options.seed, 0x1E, a, b));
    s[..len].to_string()
}

fn tags(res: &Resource) -> Vec<Tag<'_>> {
    res.tags.iter().map(|(k, v)| Tag { key: k, value: v }).collect()
}

/// The time (`ms`) the last running stretch of `res` ended, for a stopped or terminated instance.
fn stopped_at(e: &Estate, res: &Resource) -> i64 {
    let end = res.end_hour.min(e.hours);
    let mut h = end;
    while h > res.start_hour && !super::running(e, res, h - 1) {
        h -= 1;
    }
    e.hour_ms(h)
}

fn instance<'a>(e: &'a Estate, r: usize, volumes: &[usize]) -> Instance<'a> {
    let res = &e.resources[r];
    let it = super::instance_type_at(res, e.hours).expect("instances have a type");
    let state = instance_state(e, res);
    let (code, name) = state.code_name();
    let launched = created_ms(e, r);
    let reason = match state {
        InstanceState::Running => String::new(),
        _ => format!(
            "User initiated ({})",
            chrono::DateTime::from_timestamp_millis(stopped_at(e, res).max(launched))
                .expect("in range")
                .format("%Y-%m-%d %H:%M:%S GMT")
        ),
    };
    let r64 = r as u64;
    let h = hash4(e.options.seed, 0x1F, r64, 0);
    let mappings = if state == InstanceState::Terminated {
        Vec::new()
    } else {
        volumes
            .iter()
            .enumerate()
            .map(|(k, v)| BlockDeviceMapping {
                device_name: if k == 0 { "/dev/xvda" } else { "/dev/sdf" },
                ebs: EbsMapping {
                    attach_time: cli_time(launched),
                    delete_on_termination: k == 0,
                    status: "attached",
                    volume_id: &e.resources[*v].id,
                },
            })
            .collect()
    };
    Instance {
        ami_launch_index: 0,
        // One image per account and family: fleets share their AMI.
        image_id: format!("ami-0{}", hex(e, res.account as u64, fnv(it.family_prefix()), 16)),
        instance_id: &res.id,
        instance_type: it.name,
        launch_time: cli_time(launched),
        monitoring: Monitoring { state: "disabled" },
        placement: Placement { availability_zone: res.zone, group_name: "", tenancy: "default" },
        private_ip_address: (state != InstanceState::Terminated)
            .then(|| format!("10.{}.{}.{}", res.account % 250, (h >> 8) % 256, 4 + (h >> 16) % 250)),
        state: State { code, name },
        state_transition_reason: reason,
        architecture: if it.processor.contains("Graviton") { "arm64" } else { "x86_64" },
        block_device_mappings: mappings,
        ebs_optimized: true,
        hypervisor: "xen",
        root_device_name: "/dev/xvda",
        root_device_type: "ebs",
        tags: tags(res),
        virtualization_type: "hvm",
        platform_details: "Linux/UNIX",
    }
}

/// Instances in resource order, grouped into reservations: consecutive instances of one account
/// and application launched in the same hour came from one `RunInstances` call.
fn reservations(e: &Estate) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut last: Option<(usize, usize, u32)> = None;
    for (r, res) in e.resources.iter().enumerate() {
        if res.kind != ResourceKind::Instance {
            continue;
        }
        let key = (res.account, res.application, res.start_hour);
        match out.last_mut() {
            Some(group) if last == Some(key) && res.start_hour > 0 => group.push(r),
            _ => out.push(vec![r]),
        }
        last = Some(key);
    }
    out
}

/// A one-key document `{key: [...]}` whose list is made on the fly, so a file is never held whole
/// in memory.
struct Streamed<F> {
    key: &'static str,
    items: F,
}

/// The list of a [`Streamed`] document.
struct Items<'a, F>(&'a F);

impl<T: Serialize, I: Iterator<Item = T>, F: Fn() -> I> Serialize for Items<'_, F> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((self.0)())
    }
}

impl<T: Serialize, I: Iterator<Item = T>, F: Fn() -> I> Serialize for Streamed<F> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(self.key, &Items(&self.items))?;
        map.end()
    }
}

fn write_json<T: Serialize>(dir: &Path, relative: &str, doc: &T) -> Result<PathBuf, GenerateError> {
    let (path, mut w) = create(dir, relative)?;
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut w, formatter);
    doc.serialize(&mut ser).map_err(|e| GenerateError::io(&path, e.into()))?;
    std::io::Write::write_all(&mut w, b"\n").map_err(|e| GenerateError::io(&path, e))?;
    finish(&path, w)?;
    Ok(path)
}

/// Writes both inventory files into `dir`; returns their paths (instances, volumes).
pub fn write(e: &Estate, dir: &Path) -> Result<Vec<PathBuf>, GenerateError> {
    let mut volumes_of: Vec<Vec<usize>> = vec![Vec::new(); e.resources.len()];
    for (v, res) in e.resources.iter().enumerate() {
        if res.kind == ResourceKind::Volume
            && let Some(i) = res.attached_to
        {
            volumes_of[i].push(v);
        }
    }
    let groups = reservations(e);
    let instances = Streamed {
        key: "Reservations",
        items: || {
            groups.iter().map(|group| {
                let first = &e.resources[group[0]];
                Reservation {
                    groups: [],
                    instances: group
                        .iter()
                        .enumerate()
                        .map(|(k, r)| {
                            let mut i = instance(e, *r, &volumes_of[*r]);
                            i.ami_launch_index = k as u32;
                            i
                        })
                        .collect(),
                    owner_id: &e.accounts[first.account].id,
                    reservation_id: format!("r-0{}", hex(e, group[0] as u64, 0x2E5, 16)),
                }
            })
        },
    };
    let instances_path = write_json(dir, INSTANCES_PATH, &instances)?;

    let volumes = Streamed {
        key: "Volumes",
        items: || {
            e.resources
                .iter()
                .enumerate()
                .filter(|(_, v)| v.kind == ResourceKind::Volume && v.end_hour >= e.hours)
                .map(|(v, vol)| {
                    // A root volume was created with its instance; an orphan with the instance it
                    // was made beside (the one before it), which it outlived.
                    let origin = vol.attached_to.unwrap_or(if v > 0 { v - 1 } else { v });
                    let created = created_ms(e, origin).min(if vol.start_hour > 0 {
                        e.hour_ms(vol.start_hour)
                    } else {
                        i64::MAX
                    });
                    let attachments = match vol.attached_to {
                        Some(i) if instance_state(e, &e.resources[i]) != InstanceState::Terminated => {
                            vec![VolumeAttachment {
                                attach_time: cli_time(created_ms(e, i)),
                                device: if volumes_of[i].first() == Some(&v) {
                                    "/dev/xvda"
                                } else {
                                    "/dev/sdf"
                                },
                                instance_id: &e.resources[i].id,
                                state: "attached",
                                volume_id: &vol.id,
                                delete_on_termination: volumes_of[i].first() == Some(&v),
                            }]
                        }
                        _ => Vec::new(),
                    };
                    Volume {
                        state: if attachments.is_empty() { "available" } else { "in-use" },
                        attachments,
                        availability_zone: vol.zone,
                        create_time: cli_time(created),
                        encrypted: true,
                        size: vol.size_gb.max(1.0) as u64,
                        snapshot_id: "",
                        volume_id: &vol.id,
                        iops: 3000,
                        tags: tags(vol),
                        volume_type: "gp3",
                        multi_attach_enabled: false,
                        throughput: 125,
                    }
                })
        },
    };
    let volumes_path = write_json(dir, VOLUMES_PATH, &volumes)?;
    Ok(vec![instances_path, volumes_path])
}
