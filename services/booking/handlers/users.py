from contracts.commands import RegisterUser
from contracts.reasons import Reason
from contracts.replies import Reply, UserRegistered, UserView
from services.booking.domain.rejection import Rejected
from services.booking.handlers.context import HandlerContext

EMAIL_TAKEN = Rejected(Reason.EMAIL_TAKEN, "That email is already registered.")


async def register_user(command: RegisterUser, ctx: HandlerContext) -> Reply:
    user_id = ctx.new_id()
    if not await ctx.store.add_user(user_id, command.name, command.email, command.role):
        return ctx.reject(command, EMAIL_TAKEN)
    return UserRegistered(
        commandId=command.command_id,
        occurredAt=ctx.now,
        user=UserView(userId=user_id, name=command.name, email=command.email, role=command.role),
    )
