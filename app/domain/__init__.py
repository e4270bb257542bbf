"""The pure core of Attest.

Modules here import only the Python standard library (a test enforces it). They
hold the rules the contracts set: catalogue types, readiness, the working-day
calendar, the approval workflow and reminder due dates. "Today" and holidays are
always arguments, never read from the clock.
"""
