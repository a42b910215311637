"""banjian (办件): an approval system for online government services.

Shared domain code lives here: contracts that cross Temporal boundaries, the item
definition schema, the working-day calendar, identifiers, crypto, the read-model
tables, settings and the command line.
"""
