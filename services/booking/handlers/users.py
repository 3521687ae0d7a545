from contracts.commands import RegisterUser
from contracts.replies import Reply, UserRegistered, UserView
from services.booking.db.repository import ConstraintViolated
from services.booking.domain.rejection import Rejected
from services.booking.handlers.context import HandlerContext

EMAIL_TAKEN = Rejected("EMAIL_TAKEN", "That email is already registered.")


async def register_user(command: RegisterUser, ctx: HandlerContext) -> Reply:
    if await ctx.repo.email_taken(command.email):
        return ctx.reject(command, EMAIL_TAKEN)
    user_id = ctx.new_id()
    try:
        await ctx.repo.add_user(user_id, command.name, command.email, command.role)
    except ConstraintViolated:  # another partition registered it a moment ago
        return ctx.reject(command, EMAIL_TAKEN)
    return UserRegistered(
        commandId=command.command_id,
        occurredAt=ctx.now,
        user=UserView(userId=user_id, name=command.name, email=command.email, role=command.role),
    )
