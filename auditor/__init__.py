"""auditor: mines what really happens in a CRM's event log and shows where the process serves the tool
instead of the customer."""

__version__ = "0.1.0"
