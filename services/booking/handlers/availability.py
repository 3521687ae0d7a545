from contracts.commands import CreateAvailability, RemoveAvailability
from contracts.replies import AvailabilityCreated, AvailabilityRemoved, AvailabilityView, Reply
from services.booking.domain.bookings import check_host_command
from services.booking.domain.ranges import TimeRange
from services.booking.domain.rejection import Rejected
from services.booking.domain.windows import Window, plan_cut, plan_window
from services.booking.handlers.context import HandlerContext


def view(window: Window) -> AvailabilityView:
    return AvailabilityView(
        availabilityId=window.id,
        hostId=window.host_id,
        startTime=window.range.start,
        endTime=window.range.end,
        slotDuration=window.slot_minutes,
    )


async def create_availability(command: CreateAvailability, ctx: HandlerContext) -> Reply:
    requested = Window(
        ctx.new_id(), command.host_id, TimeRange(command.start_time, command.end_time), command.slot_duration
    )
    host, existing = await ctx.store.host_and_windows_near(command.host_id, requested.range)
    if rejected := check_host_command(command.actor_id, command.host_id, host):
        return ctx.reject(command, rejected)
    plan = plan_window(existing, requested, ctx.now)
    if isinstance(plan, Rejected):
        return ctx.reject(command, plan)
    if plan.changed:
        await ctx.store.delete_windows(plan.absorbed)
        if plan.is_new:
            await ctx.store.add_window(plan.window)
        else:
            await ctx.store.resize_window(plan.window)
    return AvailabilityCreated(commandId=command.command_id, occurredAt=ctx.now, availability=view(plan.window))


async def remove_availability(command: RemoveAvailability, ctx: HandlerContext) -> Reply:
    cut = TimeRange(command.start_time, command.end_time)
    host, near, booked = await ctx.store.host_windows_and_confirmed(command.host_id, cut)
    if rejected := check_host_command(command.actor_id, command.host_id, host):
        return ctx.reject(command, rejected)
    existing = [w for w in near if w.range.overlaps(cut)]
    plan = plan_cut(existing, cut, booked, ctx.new_id)
    if isinstance(plan, Rejected):
        return ctx.reject(command, plan)
    left: list[Window] = []
    emptied = [window_id for window_id, pieces in plan.remaining.items() if not pieces]
    await ctx.store.delete_windows(emptied)
    for window_id, pieces in plan.remaining.items():
        for piece in pieces:
            if piece.id == window_id:
                await ctx.store.resize_window(piece)
            else:
                await ctx.store.add_window(piece)
            left.append(piece)
    return AvailabilityRemoved(
        commandId=command.command_id,
        occurredAt=ctx.now,
        hostId=command.host_id,
        startTime=command.start_time,
        endTime=command.end_time,
        windows=[view(w) for w in left],
    )
