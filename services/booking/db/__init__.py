# For every connection of the worker and the gateway: custom plans. A prepared
# statement's generic plan is fixed when it is first made, on a new database while
# the inbox, the outbox and the bookings are nearly empty (sequential scans), and
# kept until the tables are analysed again, which with autovacuum off (as on the
# benchmark machine) is never. The worker's inbox check then read every stored
# outcome once per group: 591 bookings/s fell to 491 within a minute of the HTTP
# benchmark. Planning each statement costs less.
SERVER_SETTINGS = {"plan_cache_mode": "force_custom_plan"}

