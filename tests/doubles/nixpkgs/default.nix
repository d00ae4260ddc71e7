# See model.nix: a faithful stand-in, where host-side options stay host-side.
{ system ? builtins.currentSystem }:
import ./model.nix { inherit system; }
