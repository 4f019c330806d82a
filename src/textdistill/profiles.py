"""Profiles: `conf/` (Hydra) is the source of truth for params.yaml.

`dvc exp run -S profile=paper` composes `conf/config.yaml` with `conf/profile/paper.yaml`
(DVC's Hydra integration, `hydra.enabled` in .dvc/config). Plain `dvc repro` reads the
committed params.yaml, which must equal the composed quick profile:
`python -m textdistill.profiles` (or `make params`) rewrites it, and a test checks it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, cast

import yaml

CONF_DIR = Path("conf")
HEADER = (
    "# Generated from conf/ (profile: {profile}) by `make params`: edit conf/, not this file.\n"
    "# The quick profile: embedded sample data, the offline MiniLM encoder, few epochs; its\n"
    "# numbers are smoke figures. `dvc exp run -S profile=paper` composes the paper profile.\n"
)


def compose(
    profile: str = "quick", overrides: list[str] | None = None, conf_dir: Path = CONF_DIR
) -> dict[str, Any]:
    """The params a profile composes to, exactly as DVC's Hydra integration writes them."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(Path(conf_dir).resolve()), version_base=None):
        config = hydra_compose(
            config_name="config", overrides=[f"profile={profile}", *(overrides or [])]
        )
    # A composed DictConfig always converts to a dict; OmegaConf's return type also allows lists.
    return cast(dict[str, Any], OmegaConf.to_container(config, resolve=True))


def render(params: dict[str, Any], profile: str) -> str:
    return HEADER.format(profile=profile) + yaml.safe_dump(params, sort_keys=False, width=100)


def main() -> None:
    parser = argparse.ArgumentParser(description="Write params.yaml from a conf/ profile.")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--out", type=Path, default=Path("params.yaml"))
    args = parser.parse_args()
    from textdistill.config import parse_params
    from textdistill.io import write_text

    params = compose(args.profile)
    parse_params(params, source=f"conf/ profile {args.profile}")  # never write invalid params
    write_text(args.out, render(params, args.profile))
    print(f"wrote {args.out} from conf/ (profile {args.profile})")


if __name__ == "__main__":
    main()
