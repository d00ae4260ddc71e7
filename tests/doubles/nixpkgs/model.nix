# A stand-in for nixpkgs' `darwin.linux-builder`, for the runner expression's
# guard only. The real nixpkgs cannot be fetched or evaluated here, so this
# models just what the guard depends on: `linux-builder.override { modules }`
# evaluates the modules into a config whose `system.build.toplevel` (the
# guest, a Linux derivation) is made from guest-side options only and whose
# `system.build.vm` (the runner, a host derivation) from the host-side ones —
# the split read in nixpkgs' qemu-vm.nix, where memorySize, cores, diskSize
# and forwardPorts reach only the run script. `memoryReachesGuest` models a
# nixpkgs in which one of them leaked into the guest.
{ system, memoryReachesGuest ? false }:
let
  lib.mkForce = value: value;

  isPlainAttrs = value: builtins.isAttrs value && !(value ? type);
  update = lhs: rhs:
    lhs // builtins.mapAttrs (name: value:
      if isPlainAttrs value && lhs ? ${name} && isPlainAttrs lhs.${name}
      then update lhs.${name} value
      else value) rhs;

  defaults = {
    virtualisation = {
      darwin-builder = { hostPort = 31022; memorySize = 3072; diskSize = 20480; };
      cores = 1;
      forwardPorts = [ { from = "host"; host.port = 31022; guest.port = 22; } ];
    };
  };

  guestSystem = builtins.replaceStrings [ "darwin" ] [ "linux" ] system;

  # A module is a function of the module arguments, an attribute set, or
  # a path to a file holding either (the user's own module, imported
  # after BuilderBar's).
  call = module:
    if builtins.isPath module then call (import module)
    else if builtins.isFunction module then module { inherit lib; config = { }; pkgs = { }; }
    else module;

  evaluate = modules:
    let
      cfg = builtins.foldl' update defaults (map call modules);
      v = cfg.virtualisation;
      # Every option but the host-side virtualisation ones shapes the guest.
      guest = { user = "builder"; authorizedKeys = "/var/keys/%u_ed25519.pub"; }
        // { options = builtins.removeAttrs cfg [ "virtualisation" ]; }
        // (if memoryReachesGuest then { inherit (v.darwin-builder) memorySize; } else { });
      toplevel = derivation {
        name = "nixos-system-builder";
        system = guestSystem;
        builder = "/bin/sh";
        args = [ "-c" "echo guest > $out" ];
        guest = builtins.toJSON guest;
      };
      forwards = map (f: "hostfwd=tcp:${f.host.address or ""}:${toString f.host.port}-:${toString f.guest.port}") v.forwardPorts;
      vm = derivation {
        name = "nixos-vm";
        inherit system;
        builder = "/bin/sh";
        args = [ "-c" "echo runner > $out" ];
        script = "-m ${toString v.darwin-builder.memorySize} -smp ${toString v.cores} ${toString forwards}";
        inherit toplevel;
      };
    in
    { system.build = { inherit toplevel vm; }; };

  linuxBuilder = { modules }: {
    passthru.nixosConfig = evaluate modules;
    override = linuxBuilder;
  };
in
{
  darwin.linux-builder = linuxBuilder { modules = [ ]; };
}
