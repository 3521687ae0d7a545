from dataclasses import replace

from contracts.commands import CancelBooking, CreateBooking, RescheduleBooking
from contracts.replies import BookingCancelled, BookingConfirmed, BookingRescheduled, BookingView, Reply
from services.booking.db.repository import ConstraintViolated
from services.booking.domain.bookings import (
    Booking,
    check_booking_change,
    check_booking_parties,
    check_slot,
)
from services.booking.domain.ranges import TimeRange
from services.booking.domain.rejection import Rejected
from services.booking.handlers.context import HandlerContext

SLOT_TAKEN = Rejected("SLOT_TAKEN", "That slot is already booked.")


def view(booking: Booking) -> BookingView:
    return BookingView(
        bookingId=booking.id,
        hostId=booking.host_id,
        userId=booking.user_id,
        startTime=booking.range.start,
        endTime=booking.range.end,
        status=booking.status,
    )


async def _check_free_slot(ctx: HandlerContext, host_id, wanted: TimeRange, excluding=None) -> Rejected | None:
    windows = await ctx.repo.windows_near(host_id, wanted)
    taken = await ctx.repo.confirmed_overlapping(host_id, wanted, excluding=excluding)
    return check_slot(wanted, windows, taken, ctx.now)


async def create_booking(command: CreateBooking, ctx: HandlerContext) -> Reply:
    host = await ctx.repo.person(command.host_id, lock=True)
    user = await ctx.repo.person(command.user_id)
    if rejected := check_booking_parties(command.actor_id, command.user_id, user, host):
        return ctx.reject(command, rejected)
    wanted = TimeRange(command.start_time, command.end_time)
    if rejected := await _check_free_slot(ctx, command.host_id, wanted):
        return ctx.reject(command, rejected)
    booking = Booking(ctx.new_id(), command.host_id, command.user_id, wanted, "CONFIRMED")
    try:
        await ctx.repo.add_booking(booking)
    except ConstraintViolated:  # a second writer got there first; the database decided
        return ctx.reject(command, SLOT_TAKEN)
    return BookingConfirmed(commandId=command.command_id, occurredAt=ctx.now, booking=view(booking))


async def cancel_booking(command: CancelBooking, ctx: HandlerContext) -> Reply:
    await ctx.repo.person(command.host_id, lock=True)
    booking = await ctx.repo.booking(command.booking_id)
    if rejected := check_booking_change(command.actor_id, command.host_id, booking):
        return ctx.reject(command, rejected)
    cancelled = replace(booking, status="CANCELLED")
    await ctx.repo.update_booking(cancelled)
    return BookingCancelled(commandId=command.command_id, occurredAt=ctx.now, booking=view(cancelled))


async def reschedule_booking(command: RescheduleBooking, ctx: HandlerContext) -> Reply:
    await ctx.repo.person(command.host_id, lock=True)
    booking = await ctx.repo.booking(command.booking_id)
    if rejected := check_booking_change(command.actor_id, command.host_id, booking):
        return ctx.reject(command, rejected)
    wanted = TimeRange(command.start_time, command.end_time)
    if rejected := await _check_free_slot(ctx, command.host_id, wanted, excluding=booking.id):
        return ctx.reject(command, rejected)
    moved = replace(booking, range=wanted)
    try:
        await ctx.repo.update_booking(moved)  # one statement: the old slot frees as the new one is taken
    except ConstraintViolated:
        return ctx.reject(command, SLOT_TAKEN)
    return BookingRescheduled(
        commandId=command.command_id,
        occurredAt=ctx.now,
        booking=view(moved),
        previousStartTime=booking.range.start,
        previousEndTime=booking.range.end,
    )
