"""edgernn command line: one thin command per verb, each importing only the room it needs."""
