"""(to be built)"""

QUERIES: list[type] = []
MUTATIONS: list[type] = []
TYPES: list[type] = []
