import logging

import pytest
from pipeline_helpers import STEPS, T0, add_records, add_sequence
from sqlalchemy import func, select

from connector.engine.models import ConnectRequest, Sequence
from connector.errors import NotFound, RuleViolation
from connector.pipeline.context import MAX_DEPTH, Message, Mode, PluginStep, Stage, plugin
from connector.pipeline.pipeline import PluginError
from connector.store.schema import connection_history, sequences


def count_sequences(app) -> int:
    with app.store.begin() as db:
        return db.execute(select(func.count()).select_from(sequences)).scalar_one()


def test_stages_run_in_stage_then_order_number_order(app):
    calls = []

    def recorder(label):
        def handler(ctx):
            calls.append((label, ctx.stage, ctx.post_image is not None))
        return handler

    app.pipeline.register(
        PluginStep(Message.CREATE, Stage.POST_OPERATION, recorder("post-1"), order=1),
        PluginStep(Message.CREATE, Stage.PRE_VALIDATION, recorder("preval-5"), order=5),
        PluginStep(Message.CREATE, Stage.PRE_OPERATION, recorder("preop-1"), order=1),
        PluginStep(Message.CREATE, Stage.PRE_VALIDATION, recorder("preval-1"), order=1),
        PluginStep(Message.CREATE, Stage.POST_OPERATION, recorder("post-0"), order=0),
    )
    add_sequence(app, active=False)
    assert calls == [
        ("preval-1", Stage.PRE_VALIDATION, False),
        ("preval-5", Stage.PRE_VALIDATION, False),
        ("preop-1", Stage.PRE_OPERATION, False),
        ("post-0", Stage.POST_OPERATION, True),  # the core operation ran in between
        ("post-1", Stage.POST_OPERATION, True),
    ]


def test_pre_and_post_images_on_update(app):
    seen = {}

    @plugin(Message.UPDATE, Stage.POST_OPERATION)
    def images(ctx):
        seen["pre"], seen["post"] = ctx.pre_image, ctx.post_image

    app.pipeline.register(images)
    seq = add_sequence(app, active=False)
    from dataclasses import replace

    app.execute(Message.UPDATE, replace(seq, description="new words"))
    assert seen["pre"].description == "" and seen["post"].description == "new words"
    assert seen["post"].modified_on == T0


def test_plugin_can_change_the_target_before_the_core_operation(app):
    @plugin(Message.CREATE, Stage.PRE_OPERATION)
    def uppercase(ctx):
        from dataclasses import replace

        ctx.target = replace(ctx.target, description=ctx.target.description.upper())

    app.pipeline.register(uppercase)
    seq = app.execute(Message.CREATE, Sequence(id="", name="X", entity="lead",
                                               description="quiet"))
    assert seq.description == "QUIET"


def test_sync_plugin_exception_rolls_everything_back(app):
    @plugin(Message.CREATE, Stage.POST_OPERATION)
    def broken(ctx):
        raise ValueError("disk on fire")

    app.pipeline.register(broken)
    with pytest.raises(PluginError, match=r"plugin 'broken' failed on Create .*disk on fire"):
        add_sequence(app, active=False)
    assert count_sequences(app) == 0


def test_seqsync_errors_from_plugins_pass_through_unchanged(app):
    @plugin(Message.CREATE, Stage.PRE_VALIDATION)
    def refuse(ctx):
        raise NotFound("nope")

    app.pipeline.register(refuse)
    with pytest.raises(NotFound, match=r"^nope$"):
        add_sequence(app, active=False)


def test_nested_rollback_undoes_the_nested_message_too(app):
    seq = add_sequence(app)
    ids = add_records(app, 2)
    app.execute(Message.CONNECT, ConnectRequest(seq.id, ids))

    @plugin(Message.DELETE, Stage.POST_OPERATION)
    def veto(ctx):
        raise RuntimeError("veto")

    app.pipeline.register(veto)
    with pytest.raises(PluginError):
        app.execute(Message.DELETE, seq.id)
    with app.store.begin() as db:
        events = db.execute(select(connection_history.c.event)).scalars().all()
    assert "ended" not in events  # the nested Disconnect was rolled back with the Delete
    assert count_sequences(app) == 1


def test_nested_message_runs_at_depth_plus_one_with_the_same_correlation(app):
    seen = []

    @plugin(Message.DISCONNECT, Stage.PRE_VALIDATION)
    def spy(ctx):
        seen.append((ctx.depth, ctx.parent.message, ctx.correlation_id, ctx.user))

    app.pipeline.register(spy)
    seq = add_sequence(app)
    app.execute(Message.CONNECT, ConnectRequest(seq.id, add_records(app, 1)))
    app.execute(Message.DELETE, seq.id, correlation_id="corr-1", user="maria")
    assert seen == [(2, Message.DELETE, "corr-1", "maria")]


def test_depth_above_eight_aborts_as_a_loop(app):
    depths = []

    @plugin(Message.DEACTIVATE, Stage.POST_OPERATION)
    def loop(ctx):
        depths.append(ctx.depth)
        ctx.execute(Message.DEACTIVATE, ctx.target)

    app.pipeline.register(loop)
    seq = add_sequence(app)
    with pytest.raises(RuleViolation, match=r"depth 9: .* more than 8 nested"):
        app.execute(Message.DEACTIVATE, seq.id)
    assert depths == list(range(1, MAX_DEPTH + 1))
    with app.store.begin() as db:
        assert db.execute(select(sequences.c.status)).scalar_one() == "active"


def test_async_plugins_run_after_commit_and_cannot_cancel(app, caplog):
    seen = []

    def after(ctx):
        # A fresh transaction sees the committed row.
        seen.append((ctx.db, count_sequences(app), ctx.post_image.name))
        raise RuntimeError("mail server down")

    app.pipeline.register(
        PluginStep(Message.CREATE, Stage.POST_OPERATION, after, mode=Mode.ASYNC, name="notify")
    )
    with caplog.at_level(logging.WARNING):
        add_sequence(app, active=False)
    assert seen == [(None, 1, "Cold")]
    assert count_sequences(app) == 1
    assert "asynchronous plugin 'notify' failed on Create after commit" in caplog.text


def test_async_plugins_do_not_run_when_the_operation_failed(app):
    ran = []
    app.pipeline.register(
        PluginStep(Message.CREATE, Stage.POST_OPERATION, ran.append, mode=Mode.ASYNC),
        PluginStep(Message.CREATE, Stage.POST_OPERATION, lambda ctx: 1 / 0, order=200),
    )
    with pytest.raises(PluginError, match="ZeroDivisionError"):
        add_sequence(app, active=False)
    assert ran == []


def test_async_plugin_may_start_a_new_operation_after_commit(app):
    ids = add_records(app, 1)

    def connect_new(ctx):
        seq = ctx.post_image
        if seq.is_active:
            ctx.execute(Message.CONNECT, ConnectRequest(seq.id, ids))

    app.pipeline.register(
        PluginStep(Message.ACTIVATE, Stage.POST_OPERATION, connect_new, mode=Mode.ASYNC)
    )
    seq = add_sequence(app)
    with app.store.begin() as db:
        events = db.execute(select(connection_history.c.event)).scalars().all()
    assert events == ["connected"] and seq.is_active


def test_async_only_at_post_operation_and_unknown_messages():
    with pytest.raises(ValueError, match="PostOperation"):
        PluginStep(Message.CREATE, Stage.PRE_OPERATION, print, mode=Mode.ASYNC)
    with pytest.raises(ValueError):
        PluginStep("Explode", Stage.PRE_OPERATION, print)


def test_unknown_message_is_invalid_input(app):
    from connector.errors import InvalidInput

    with pytest.raises(InvalidInput, match="unknown message 'Explode'"):
        app.execute("Explode", None)


def test_shared_variables_flow_between_stages(app):
    got = []
    app.pipeline.register(
        PluginStep(Message.CREATE, Stage.PRE_VALIDATION,
                   lambda ctx: ctx.shared_variables.__setitem__("k", 41)),
        PluginStep(Message.CREATE, Stage.POST_OPERATION,
                   lambda ctx: got.append(ctx.shared_variables["k"] + 1)),
    )
    add_sequence(app, steps=STEPS, active=False)
    assert got == [42]
