"""Commands of the hub package: ``push``."""

from __future__ import annotations

import argparse

from limo_rl.errors import UsageError
from limo_rl.hub.push import PushError, plan_push, push


def _cmd_push(args: argparse.Namespace) -> int:
    try:
        plan = plan_push(args.run_dir, args.to, item=args.item, dataset=args.dataset, license=args.license)
        print(f"{plan.repo_type} {plan.repo_id} <- {plan.folder} ({len(plan.files)} files: "
              f"{', '.join(plan.files[:8])}{', ...' if len(plan.files) > 8 else ''})")
        if args.dry_run:
            print("dry run: nothing uploaded")
            return 0
        print(push(plan, private=not args.public))
    except PushError as exc:
        raise UsageError(str(exc)) from None
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "push", help="upload a run's student (or SFT set) with its card to the Hugging Face Hub",
        description="Upload the last loop round's student (or, with --dataset, its SFT set) of RUN_DIR, or any "
        "folder given with --item, to a Hub repo, card included. The token is read from HF_TOKEN.",
        epilog="examples:\n  limo-rl push runs/quickstart --to me/limo-student --dry-run\n"
        "  limo-rl push runs/quickstart --to me/limo-sft --dataset --license apache-2.0\n"
        "  limo-rl push runs/quickstart --to me/limo-static --item seed0/static/train",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--to", required=True, metavar="HUB_REPO", help="repo id, e.g. your-name/limo-student")
    p.add_argument("--dataset", action="store_true", help="push the SFT set instead of the student")
    p.add_argument("--item", default=None, help="a folder of the run to push, e.g. seed0/static/train")
    p.add_argument("--license", default=None, help="set the card's license field (e.g. apache-2.0)")
    p.add_argument("--public", action="store_true", help="create the repo public (default: private)")
    p.add_argument("--dry-run", action="store_true", help="show what would be uploaded; upload nothing")
    p.set_defaults(func=_cmd_push)
