{
  description = "mlp-bench: a fair, reproducible benchmark of one MLP trained in Rust and Python";

  # nixos-25.11 is the last nixpkgs release that supports x86_64-darwin (Intel Macs), so it
  # is pinned here and x86_64-darwin is offered. Moving to a newer release means dropping
  # "x86_64-darwin" from `systems` below. No flake.lock is committed: the first `nix develop`
  # locks the newest 25.11 revision (commit the lock file to pin it for your team).
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { nixpkgs, ... }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "aarch64-darwin"
        "x86_64-darwin"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      devShells = forAllSystems (
        pkgs:
        let
          # The harness and the NumPy reference, with the test tools (pyproject.toml's deps).
          python = pkgs.python3.withPackages (
            ps: with ps; [
              numpy
              pandas
              matplotlib
              jinja2
              scipy
              safetensors
              threadpoolctl
              rich
              sqlalchemy
              psycopg
              ruptures
              pytest
              pytest-xdist
              ruff
            ]
          );
        in
        {
          default = pkgs.mkShell {
            # mkShell's stdenv brings the C compiler and linker that cargo needs.
            packages = [
              pkgs.rustc
              pkgs.cargo
              pkgs.clippy
              pkgs.rustfmt
              pkgs.hyperfine
              python
            ];
            # Run from the repository root: `nix develop -c python -m harness run`
            # (and `python -m python_impl`) import the packages straight from the checkout.
            shellHook = ''
              export PYTHONPATH="$PWD''${PYTHONPATH:+:$PYTHONPATH}"
            '';
          };
        }
      );

      # `nix fmt`: in 25.11, pkgs.nixfmt is the RFC 166 style (formerly nixfmt-rfc-style).
      formatter = forAllSystems (pkgs: pkgs.nixfmt);
    };
}
