"""The coach's conversation as a pure state machine: state + event + now -> new state + replies."""
