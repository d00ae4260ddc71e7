# See ../nixpkgs/model.nix: a nixpkgs in which `virtualisation.darwin-builder.memorySize` reaches
# the guest, which the runner expression's guard must refuse.
{ system ? builtins.currentSystem }:
import ../nixpkgs/model.nix { inherit system; memoryReachesGuest = true; }
