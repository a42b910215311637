from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from tests.zz_variants import Incompatible

async def test_explore():
    h = WorkflowHistory.from_json("case-x", open("/tmp/explore/h1.json").read())
    r = await Replayer(workflows=[Incompatible], data_converter=pydantic_data_converter).replay_workflow(h, raise_on_replay_failure=False)
    print("replay", type(r.replay_failure), r.replay_failure)
