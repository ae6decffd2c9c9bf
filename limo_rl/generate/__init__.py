"""limo_rl.generate"""
