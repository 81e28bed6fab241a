"""The operator CLI (`safety`, or `python -m ops`): migrate, tokens, replay, audit, publishing."""
