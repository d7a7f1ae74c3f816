"""Curation: answer repair by majority vote, pass rates, difficulty and trace filters, SFT records and report."""
