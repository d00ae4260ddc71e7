// Generated from the core's settings table (src/settings/table.rs) by
// `cargo test -p builderbar-app --lib export_bindings`. Do not edit.

export const SETTING_LABELS = {
  "ssh_port": "SSH port",
  "disk_mib": "Disk",
  "memory_mib": "Memory",
  "cores": "Cores",
  "max_jobs": "Max jobs",
  "systems": "Systems",
  "ephemeral": "Wipe the disk at every start",
  "start_at_login": "Start at login",
  "on_demand": "Start when a build needs it",
  "idle_minutes": "Stop after idle",
  "notifications.vm_failures": "VM failures",
  "notifications.build_failures": "Failed builds",
  "notifications.build_successes": "Successful builds",
  "notifications.disk_low_percent": "Disk almost full at",
} as const;
