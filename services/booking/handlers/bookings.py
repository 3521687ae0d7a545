from dataclasses import replace

from contracts.commands import CancelBooking, CreateBooking, RescheduleBooking
from contracts.replies import BookingCancelled, BookingConfirmed, BookingRescheduled, BookingView, Reply
from services.booking.domain.bookings import (
    Booking,
    check_booking_change,
    check_booking_parties,
    check_slot,
)
from services.booking.domain.ranges import TimeRange
from services.booking.handlers.context import HandlerContext

# A write the exclusion constraint refuses (a second writer got there first) raises
# ConstraintViolated: the command is handled again, re-reads, and gets SLOT_TAKEN.


def view(booking: Booking) -> BookingView:
    return BookingView(
        bookingId=booking.id,
        hostId=booking.host_id,
        userId=booking.user_id,
        startTime=booking.range.start,
        endTime=booking.range.end,
        status=booking.status,
    )


async def create_booking(command: CreateBooking, ctx: HandlerContext) -> Reply:
    wanted = TimeRange(command.start_time, command.end_time)
    host, user, windows, taken = await ctx.store.booking_parties(command.host_id, command.user_id, wanted)
    rejected = check_booking_parties(command.actor_id, command.user_id, user, host) or check_slot(
        wanted, windows, taken, ctx.now
    )
    if rejected:
        return ctx.reject(command, rejected)
    booking = Booking(ctx.new_id(), command.host_id, command.user_id, wanted, "CONFIRMED")
    await ctx.store.add_booking(booking)
    return BookingConfirmed(commandId=command.command_id, occurredAt=ctx.now, booking=view(booking))


async def cancel_booking(command: CancelBooking, ctx: HandlerContext) -> Reply:
    booking = await ctx.store.host_booking(command.host_id, command.booking_id)
    if rejected := check_booking_change(command.actor_id, command.host_id, booking):
        return ctx.reject(command, rejected)
    cancelled = replace(booking, status="CANCELLED")
    await ctx.store.update_booking(cancelled)
    return BookingCancelled(commandId=command.command_id, occurredAt=ctx.now, booking=view(cancelled))


async def reschedule_booking(command: RescheduleBooking, ctx: HandlerContext) -> Reply:
    booking = await ctx.store.host_booking(command.host_id, command.booking_id)
    if rejected := check_booking_change(command.actor_id, command.host_id, booking):
        return ctx.reject(command, rejected)
    wanted = TimeRange(command.start_time, command.end_time)
    windows, taken = await ctx.store.windows_and_confirmed(command.host_id, wanted, excluding=booking.id)
    if rejected := check_slot(wanted, windows, taken, ctx.now):
        return ctx.reject(command, rejected)
    moved = replace(booking, range=wanted)
    await ctx.store.update_booking(moved)  # one statement: the old slot frees as the new one is taken
    return BookingRescheduled(
        commandId=command.command_id,
        occurredAt=ctx.now,
        booking=view(moved),
        previousStartTime=booking.range.start,
        previousEndTime=booking.range.end,
    )
