# A STAND-IN FOR NIXPKGS, NOT NIXPKGS: tests/test_flake.py evaluates ../../flake.nix against it,
# offline, with `--override-input nixpkgs path:tests/nix-stand-in`. It provides only the
# attributes that flake.nix uses, under their real nixpkgs names; every "package" is a plain
# attribute set recording its name, and mkShell records the names of what it was given, so
# the test can check each system's devShell without building or downloading anything.
{
  description = "test stand-in for nixpkgs (records package names; builds nothing)";

  outputs =
    { self }:
    let
      lib.genAttrs =
        names: f:
        builtins.listToAttrs (
          map (name: {
            inherit name;
            value = f name;
          }) names
        );
      package = name: { pname = name; };
      packageSet = names: lib.genAttrs names package;
      pythonPackages = packageSet [
        "numpy"
        "pandas"
        "matplotlib"
        "jinja2"
        "scipy"
        "safetensors"
        "threadpoolctl"
        "rich"
        "sqlalchemy"
        "psycopg"
        "ruptures"
        "pytest"
        "pytest-xdist"
        "ruff"
      ];
      packagesFor =
        system:
        packageSet [
          "rustc"
          "cargo"
          "clippy"
          "rustfmt"
          "hyperfine"
          "nixfmt"
        ]
        // {
          python3 = package "python3" // {
            withPackages = select: {
              pname = "python3-with-packages";
              pythonPackages = map (p: p.pname) (select pythonPackages);
            };
          };
          mkShell =
            {
              packages ? [ ],
              shellHook ? "",
            }:
            {
              pname = "mkShell";
              inherit system shellHook;
              packageNames = map (p: p.pname) packages;
              pythonPackages = builtins.concatMap (p: p.pythonPackages or [ ]) packages;
            };
        };
    in
    {
      inherit lib;
      legacyPackages = lib.genAttrs [
        "x86_64-linux"
        "aarch64-linux"
        "aarch64-darwin"
        "x86_64-darwin"
      ] packagesFor;
    };
}
