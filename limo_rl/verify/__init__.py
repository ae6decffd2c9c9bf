"""limo_rl.verify"""
