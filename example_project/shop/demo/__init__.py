"""The parts of ``manage.py saga_demo`` besides the command itself: the orders
it places and what its operator does (``scenarios``), the table of how they
ended (``report``), the refunds it asks people for (``people``), and the
RabbitMQ queues and exchanges it deletes when it ends (``topology``)."""
